"""Text attacks: the shared constraints (``constraints``), the word-substitution machinery
(``words``, ``word_attack``, ``token_swaps``, ``results``) and the attacks on it (``hotflip``,
``wordswap``, ``charswap``), and the embedding-space attacks (``embedding_attack``,
``embedding_text``, ``embedding_fgm``, ``embedding_pgd``)."""
