"""Text trainers on the trainer core: clean fine-tuning and embedding FGM/PGD (``trainers``),
FreeLB with optional word swaps (``freelb``)."""
