"""A very small variant of ``shapes_tiny`` for smoke tests: 32x32 scenes, a 2-layer width-64
model, batch 16. It trains in seconds on a CPU (the loss drops, accuracies stay low)."""

from experiments.configs import shapes_tiny


def get_config(arg=None):
    c = shapes_tiny.get_config()
    c.total_steps = 20
    c.batch_size = 16
    c.log_every = 1
    c.eval_every = 0
    c.checkpoint_every = 5
    c.optim.warmup_steps = 2
    c.optim.lr = 2e-3
    c.model.context_length = 8
    c.model.overrides = dict(
        image_size=32, patch_size=8, embed_dim=32,
        vision_width=32, vision_layers=1, vision_heads=2, vision_mlp_dim=64,
        text_width=32, text_layers=1, text_heads=2, text_mlp_dim=64,
    )
    c.data.sources = ("counting",)
    c.data.options = dict(image_size=32, shapes=("circle", "square"), colors=("red", "blue"))
    c.data.source_options = dict(counting=dict(max_count=3))
    for name in ("shape", "color"):  # the counting scenes have a shape and a colour too
        c.evals[name]["dataset"] = "jclip_shapes/counting"
    for entry in c.evals.values():
        entry["data"]["num_examples"] = 32
    return c
