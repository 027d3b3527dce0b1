"""The predictor: models of accuracy from weight features (:mod:`.models`), their tuning
(:mod:`.tuning`), prediction intervals (:mod:`.intervals`), the domain of applicability
(:mod:`.domain`: what the training zoo covers, and a verdict per checkpoint) and saved bundles
(:mod:`.bundles`)."""
