"""Models that learn from trials: a small 2-D CNN slice classifier trained on evaluation
sets (``eval/{set}/{profile}/cases.parquet`` + PNGs) with a seeded deterministic recipe.

* :mod:`.recipe` — the typed recipe (seed, epochs, split, augmentation, early stopping);
* :mod:`.data` — training examples read from evaluation sets, split by case uid;
* :mod:`.network` — the CNN (presence, size-bin and lobe heads);
* :mod:`.loop` — training, checkpoints after every epoch, resume, early stopping;
* :mod:`.checkpoint` — the checkpoint record and its atomic, byte-deterministic file;
* :mod:`.adapter` — the trained model as a scoring model (``adapter: trained``), which
  refuses every item whose case (or, for real scans, host CT) it was trained on.

torch is imported only by the modules that need it.
"""
