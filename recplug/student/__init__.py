"""The omni-modal student: one encoder for text, image and audio items, trained on content
(progressive contrastive training) and then on collaboration (distillation from ID teachers)."""
