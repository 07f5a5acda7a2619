"""Collaboration-aware recommendation enhancement (CRE): distil ID and sequence teachers, read from
embedding files, into the content-trained student (method section 3)."""
