"""The engine: pure numpy / scikit-learn / PyTorch modules that choose what to label (no Django, no settings).

The Django side of active learning (models, services, workers) calls into it; nothing here calls back."""
