"""Stage 1: the network (net), its training (lightning, sam), backbones, and inference."""
