"""A seconds-long robustness run for the tests and the notebook: three 1-layer CLIPs, 5-20 steps,
48 scenes per set, two corruptions at three severities."""

from experiments.robustness.configs import default


def get_config(arg=None):
    c = default.get_config()
    c.models = [default.testbed_model("corr0.33", default.UNCORRELATED, 20),
                default.testbed_model("corr0.9", 0.9, 20),
                default.testbed_model("corr0.33-steps5", default.UNCORRELATED, 5)]
    c.reference_model = "corr0.33"
    c.train.batch_size = 32
    c.train.warmup_steps = 3
    c.train.model.update(vision_layers=1, vision_width=32, embed_dim=32, text_width=32,
                         vision_mlp_dim=64, text_mlp_dim=64, vision_heads=2, text_heads=2,
                         patch_size=8)
    n = 48
    tasks = c.tasks.to_dict()
    for task in (tasks["id"], tasks["shifts"]["counter"], tasks["spurious"],
                 tasks["ood"]["unseen_shapes"], tasks["calibration"], tasks["corruption"]):
        task["data"]["num_examples"] = n
    tasks["ood"]["unseen_shapes"]["ood_data"]["num_examples"] = n
    tasks["calibration"]["shifts"] = [dict(tasks["calibration"]["shifts"][0]),
                                      dict(corruption="gaussian_noise", severity=3)]
    tasks["calibration"]["shifts"][0]["data"]["num_examples"] = n
    tasks["corruption"].update(corruptions=["gaussian_noise", "contrast"], severities=[1, 3, 5])
    c.tasks = tasks
    return c
