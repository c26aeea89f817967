"""Models: timm backbones, the SAM optimiser, the stage-1 feature extractor, pair operators and heads."""
