"""The text classifier and what it is made of: the ART estimator over a Hugging Face model
(``estimator``), its input checks (``model_checks``), input embeddings and their projections
(``embedding``), the word vocabulary (``vocabulary``), sentence encoders for the constraints
(``encoders``) and Foolbox models over embeddings (``foolbox_models``)."""
