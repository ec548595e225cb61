"""X12 toolkit shared by the apps: tokenizer, envelopes and control numbers, pyx12 validation wrapper."""
