"""Users' files and what is learnt from the training individuals' data alone.

Owns: reading breeders' text files (:mod:`~gpfn_core.data.textio`), phenotype tables
(:mod:`~gpfn_core.data.phenotypes`), the Dataset file that ``gpfn parse`` writes
(:mod:`~gpfn_core.data.dataset`) and the allele encoding and phenotype scale
(:mod:`~gpfn_core.data.encoding`).

May import: the contracts only.  No torch.
"""
