"""StylEx: a classifier-specific StyleGAN (a trainer extension, :mod:`.trainer`) and the
tools that explain the classifier with it: AttFind (:mod:`.attfind`), EigenFind
(:mod:`.eigenfind`), counterfactual sheets (:mod:`.counterfactual`, :mod:`.report`),
counterfactual attacks (:mod:`.attack`) and metrics (:mod:`.metrics`). Load a trained one with
:func:`jaxgan.stylex.explainer.load_stylex`; the end-to-end steps are in :mod:`.pipeline`."""
