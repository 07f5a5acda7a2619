"""`recplug run CONFIG.yaml`: data -> teachers -> student (stages I-III) -> CRE -> ranking -> LT ->
report, every stage cached by the hash of its config and of its inputs' stages."""
