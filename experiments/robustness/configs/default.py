"""The robustness study on the synthetic scenes (``python -m experiments.robustness``).

A testbed of six tiny CLIPs trained from scratch on the scenes' spurious config (a shape on one
of three background textures; captions name only colour and shape): four training correlations
between shape and background at the full budget, and two smaller budgets without correlation.
Every model is evaluated through ``jclip.evals`` on held-out scenes whose backgrounds are
uncorrelated (the ID set), under 18 corruptions x 5 severities, on the common / counter
backgrounds, for calibration, and for OOD detection of three shapes never seen in training.
"""

import ml_collections

SHAPES = ("circle", "square", "triangle")
UNSEEN_SHAPES = ("star", "diamond", "cross")
COLORS = ("red", "green", "blue", "yellow")
UNCORRELATED = 1 / 3  # P(typical background) of three backgrounds drawn uniformly
IMAGE_SIZE = 32
SCENES = "jclip_shapes/spurious_texture"


def scene_data(num_examples, **options):
    """jclip_shapes data options of the study's scenes (``seed`` replaced per study seed)."""
    opts = dict(image_size=IMAGE_SIZE, shapes=SHAPES, colors=COLORS, correlation=UNCORRELATED)
    opts.update(options)
    return dict(num_examples=num_examples, seed=0, options=opts)


def testbed_model(name, correlation, steps):
    return dict(name=name, train=dict(correlation=float(correlation), steps=int(steps)))


def get_config(arg=None):
    c = ml_collections.ConfigDict()
    # The testbed: name -> training correlation and steps (the other training settings below).
    c.models = [
        testbed_model("corr0.33", UNCORRELATED, 300),
        testbed_model("corr0.6", 0.6, 300),
        testbed_model("corr0.9", 0.9, 300),
        testbed_model("corr0.99", 0.99, 300),
        testbed_model("corr0.33-steps60", UNCORRELATED, 60),
        testbed_model("corr0.33-steps120", UNCORRELATED, 120),
    ]
    c.reference_model = "corr0.33"  # the model of the single-model tables and plots
    c.train = dict(
        batch_size=64, lr=2e-3, warmup_steps=20, context_length=10,
        model=dict(image_size=IMAGE_SIZE, patch_size=4, embed_dim=64, vision_width=64,
                   vision_layers=2, vision_heads=4, vision_mlp_dim=256, text_width=64,
                   text_layers=1, text_heads=4, text_mlp_dim=256),
        options=dict(image_size=IMAGE_SIZE, shapes=SHAPES, colors=COLORS,
                     background_kind="texture"),
    )
    n, n_corrupt = 512, 256
    test = dict(dataset=SCENES, split="test", data=scene_data(n))
    # Tasks of jclip.evals, the same for every model. Data seeds follow the study seed.
    c.tasks = dict(
        id=dict(type="zeroshot_classification", **test),
        shifts=dict(
            counter=dict(type="zeroshot_classification", dataset=SCENES, split="counter",
                         data=scene_data(n)),
        ),
        corruption=dict(type="corruption", dataset=SCENES, split="test",
                        data=scene_data(n_corrupt), corruptions="all",
                        severities=[1, 2, 3, 4, 5], table=None, seed=0),
        spurious=dict(type="spurious", dataset=SCENES, data=scene_data(n)),
        ood=dict(
            unseen_shapes=dict(type="ood", **test, ood_dataset=SCENES, ood_split="test",
                               ood_data=scene_data(n, shapes=UNSEEN_SHAPES)),
        ),
        calibration=dict(type="calibration", **test, validation_split="train",
                         shifts=[dict(name="counter", dataset=SCENES, split="counter",
                                      data=scene_data(n)),
                                 dict(corruption="gaussian_noise", severity=3),
                                 dict(corruption="contrast", severity=3)]),
    )
    # Effective robustness: OOD accuracy = a shift's acc1 or "corruptions" (mean over cells).
    c.er_shifts = ("corruptions", "counter")
    c.er_primary = "corruptions"  # the shift of summary["effective_robustness"]
    c.ood_primary = "unseen_shapes"
    return c
