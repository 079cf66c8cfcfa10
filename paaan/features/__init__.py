"""Featurization (paper II-B): ``audio`` reads utterances, ``acoustic`` gives the 45 LLDs and the IS10
functionals with 40 ms pooling and speaker-wise z-normalisation, ``text`` gives tokens, POS tags and GloVe.

Nothing is imported here, so ``import paaan.features.text`` does not load openSMILE.
"""
