"""The chapter-03 module (:mod:`toonlab.chapters.gan`, training from :mod:`toonlab.train.gan_runs`): presets at the chapter's scale, train + export + reload, the few-shot numbers."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from toonlab.chapters import gan as chapter


def test_scaled_preset_moves_resolution_and_keeps_lucidrains_width_rule():
    fastgan = chapter.scaled_preset("toyhollywood_fastgan", 64, tiny=True, steps=3)
    assert fastgan.model.resolution == 64 and fastgan.model.ngf == 8 and fastgan.steps == 3
    assert chapter.scaled_preset("toyhollywood_fastgan", 64, tiny=True, model={"ngf": 16}).model.ngf == 16
    sg2 = chapter.scaled_preset("toyhollywood_stylegan2", 64)
    # capacity 16 at 64 px: 16 * 2 * 64 / res, at most 512 (stylegan2-pytorch's widths)
    assert [sg2.model.width(r) for r in (4, 8, 16, 32, 64)] == [512, 256, 128, 64, 32]


@pytest.mark.parametrize("name", ["toyhollywood_fastgan", "toyhollywood_stylegan2", "comics_dcgan"])
def test_train_export_and_reload_the_generator(name, tmp_path):
    preset = chapter.scaled_preset(name, 64 if "dcgan" not in name else 32, tiny=True, steps=2, batch_size=2)
    data = TensorDataset(torch.rand(4, 3, preset.model.resolution, preset.model.resolution), torch.zeros(4))
    run = chapter.train_gan(name, preset, data, tmp_path, seed=0, sample_every=1, n_samples=2, log_every=1,
                            checkpoint_every=2, progress=False)
    assert [step for step, _ in run.grids()] == [0, 1, 2]
    generator, meta = chapter.load_generator(run.generator_path)
    assert meta["kind"] == preset.kind and meta["steps"] == 2 and meta["preset"] == name
    a = chapter.sample_images(generator, 3, seed=5)
    b = chapter.sample_images(run.generator, 3, seed=5)
    assert a.shape == (3, 3, preset.model.resolution, preset.model.resolution)
    if preset.kind == "dcgan":  # no noise inputs: the reloaded generator reproduces the EMA-less live one
        torch.testing.assert_close(a, b)
    again = chapter.train_gan(name, preset, data, tmp_path, seed=0, sample_every=1, n_samples=2, log_every=1,
                              checkpoint_every=2, progress=False)
    assert again.result.resumed_from == 2 and again.steps_trained_now == 0 and again.seconds_per_step is None


def test_load_generator_refuses_foreign_files(tmp_path):
    from toonlab.train import save_weights

    save_weights(tmp_path / "x.safetensors", torch.nn.Linear(2, 2), config={})
    with pytest.raises(ValueError, match="does not say which GAN"):
        chapter.load_generator(tmp_path / "x.safetensors")


def test_diversity_sees_collapse_and_memorisation():
    training = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    collapsed = training[:1].repeat(10, 1, 1, 1)
    numbers = chapter.diversity(collapsed, training)
    assert numbers["sample_spread"] == 0 and numbers["nearest_training"] == 0
    assert numbers["training_spread"] > 0.3
    fresh = torch.rand(10, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    numbers = chapter.diversity(fresh, training)
    assert numbers["sample_spread"] == pytest.approx(numbers["training_spread"], rel=0.2)
    assert numbers["nearest_training"] > 0.2


def test_interpolation_walks_end_on_the_end_latents():
    from toonlab.gan import DCGANConfig, DCGANGenerator, generate
    from toonlab.gan.precise_bn import recalibrated
    from toonlab.gan.sampling import sample_latents

    G = DCGANGenerator(DCGANConfig(resolution=16, latent_dim=8, base_channels=4)).eval()
    walk = chapter.interpolation(G, seed=3, steps=4, pairs=2)
    assert walk.shape == (8, 3, 16, 16)
    ends = sample_latents(4, 8, 3)
    calibrated = recalibrated(G, seed=3)  # what the walk samples with (DCGAN has BatchNorm)
    with torch.no_grad():
        torch.testing.assert_close(walk[3], ((generate(calibrated, ends[1:2]) + 1) / 2)[0], atol=1e-5, rtol=1e-4)


def test_reference_stats_are_reused_for_fd_and_kid():
    from toonlab import zoo
    from toonlab.metrics.extractors import inception_extractor

    extractor = inception_extractor(zoo.load("inception", "ci"))
    real = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    fake = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    stats = chapter.reference_stats(real, extractor)
    via_stats = chapter.evaluate(fake, stats, extractor, seed=0, kid_subset_size=4)
    via_images = chapter.evaluate(fake, real, extractor, seed=0, kid_subset_size=4)
    assert via_stats.value == pytest.approx(via_images.value)
    assert via_stats.kid_mean == pytest.approx(via_images.kid_mean)
    assert via_stats.distance_name.startswith("random-feature FD")  # never called FID


def test_build_extractor_names_each_distance_honestly():
    from toonlab.metrics.extractors import build_extractor

    assert build_extractor("random", "full").distance_name.startswith("random-feature FD")
    assert build_extractor("inception", "ci").distance_name.startswith("random-feature FD")  # ci: no weights
    with pytest.raises(ValueError, match="features must be one of"):
        build_extractor("clip", "ci")


def test_run_folder_changes_with_the_architecture_not_the_step_count(tmp_path):
    a = chapter.scaled_preset("toyhollywood_fastgan", 64, tiny=True, steps=10)
    assert chapter.run_folder(tmp_path, "f", a, "avatars", 0) == chapter.run_folder(tmp_path, "f", a.replace(steps=99), "avatars", 0)
    assert chapter.run_folder(tmp_path, "f", a, "avatars", 0) != chapter.run_folder(
        tmp_path, "f", a.replace(model={"ngf": 16}), "avatars", 0)
    assert chapter.run_folder(tmp_path, "f", a, "avatars", 0) != chapter.run_folder(tmp_path, "f", a, "avatars", 1)


def test_check_presets_names_the_choices():
    chapter.check_presets(["toyhollywood_fastgan"])
    with pytest.raises(ValueError, match="choose from .*toyhollywood_fastgan"):
        chapter.check_presets(["toyhollywood_fastgan", "nope"])
    with pytest.raises(ValueError, match="choose from"):
        chapter.check_presets([])


def test_widths_replace_the_sources_per_family_and_are_named_in_the_tables():
    fastgan = chapter.scaled_preset("toyhollywood_fastgan", 64, widths={"fastgan": {"ngf": 12, "ndf": 16},
                                                                        "stylegan2": {"channel_max": 64}})
    assert (fastgan.model.ngf, fastgan.model.ndf, fastgan.model.latent_dim) == (12, 16, 256)
    assert chapter.widths(fastgan) == "ngf 12 (64), ndf 16 (64)"
    assert chapter.widths(chapter.scaled_preset("toyhollywood_stylegan2", 64)).endswith("channel_base 2048, channel_max 512")
    assert chapter.describe_preset(fastgan)["widths (source's)"] == "ngf 12 (64), ndf 16 (64)"
    with pytest.raises(ValueError, match="unknown GAN families.*'fastgan'"):
        chapter.scaled_preset("toyhollywood_fastgan", 64, widths={"fast_gan": {"ngf": 12}})


def test_fd_history_reads_the_metrics_logged_during_training(tmp_path):
    preset = chapter.scaled_preset("comics_dcgan", 32, tiny=True, steps=4, batch_size=2)
    data = TensorDataset(torch.rand(4, 3, 32, 32), torch.zeros(4))
    run = chapter.train_gan("dcgan", preset, data, tmp_path, seed=0, sample_every=4, n_samples=2, log_every=1,
                            metric_every=2, metric_fn=lambda trainer, step: {"fd": 10.0 - step, "kid": step / 10},
                            progress=False)
    history = chapter.fd_history({"dcgan": run})
    assert history[["step", "FD", "KID"]].values.tolist() == [[2, 8.0, 0.2], [4, 6.0, 0.4]]


def test_published_generator_loads_only_when_sha256_family_and_resolution_match(tmp_path):
    from toonlab.train.gan_runs import CommittedGeneratorError

    preset = chapter.scaled_preset("toyhollywood_fastgan", 64, tiny=True, steps=1, batch_size=2)
    data = TensorDataset(torch.rand(4, 3, 64, 64), torch.zeros(4))
    run = chapter.train_gan("toyhollywood_fastgan", preset, data, tmp_path / "run", seed=0, sample_every=1,
                            n_samples=2, log_every=1, progress=False)
    (tmp_path / "data").mkdir()
    registry = tmp_path / "data" / "registry.yaml"
    registry.write_text("weights: {}\n")
    table = chapter.publish_table({"toyhollywood_fastgan": run}, "cpu", root=tmp_path)
    row = table.iloc[0]
    assert row["registry entry"] == "gan_cpu_toyhollywood_fastgan" and row["in data/registry.yaml"].startswith("no")
    path = tmp_path / row["file"]
    entry = (f"# committed weights\nweights:\n  gan_cpu_toyhollywood_fastgan:\n    file: {row['file']}\n"
             f"    chapter: 03_gan  # made here\n    sha256: {{sha}}  # set by publish_table\n"
             f"    command: python -m toonlab.book run --profile cpu --chapters 03\n")
    registry.write_text(entry.format(sha="ab" * 32))  # an older generator's
    assert chapter.publish_table({"toyhollywood_fastgan": run}, "cpu", root=tmp_path).iloc[0]["in data/registry.yaml"] \
        == "updated: commit it with the file"
    assert registry.read_text() == entry.format(sha=row["sha256"])  # that one value changed, comments kept
    assert chapter.publish_table({"toyhollywood_fastgan": run}, "cpu", root=tmp_path).iloc[0]["in data/registry.yaml"] == "yes"

    generator, meta = chapter.load_committed_generator("gan_cpu_toyhollywood_fastgan", kind="fastgan", resolution=64,
                                                       root=tmp_path)
    assert meta["dtype"] == "float16" and meta["sha256"] == row["sha256"]
    assert all(p.dtype == torch.float32 for p in generator.parameters())
    full, _ = chapter.load_generator(run.generator_path)
    for (key, a), b in zip(generator.state_dict().items(), full.state_dict().values()):  # fp16 rounding only
        torch.testing.assert_close(a.float(), b.float(), atol=2e-3, rtol=1e-2, msg=key)

    with pytest.raises(CommittedGeneratorError, match="is a fastgan at 64 px, but a stylegan2 at 64 px"):
        chapter.load_committed_generator("gan_cpu_toyhollywood_fastgan", kind="stylegan2", root=tmp_path)
    with pytest.raises(CommittedGeneratorError, match="at 128 px was asked for"):
        chapter.load_committed_generator("gan_cpu_toyhollywood_fastgan", resolution=128, root=tmp_path)
    path.write_bytes(path.read_bytes() + b" ")
    with pytest.raises(CommittedGeneratorError, match="sha256 .* the registry says.*--chapters 03"):
        chapter.load_committed_generator("gan_cpu_toyhollywood_fastgan", root=tmp_path)
    path.unlink()
    with pytest.raises(CommittedGeneratorError, match="is missing"):
        chapter.load_committed_generator("gan_cpu_toyhollywood_fastgan", root=tmp_path)
    with pytest.raises(Exception, match="no weights entry 'gan_cpu_nope'"):
        chapter.load_committed_generator("gan_cpu_nope", root=tmp_path)
    with pytest.raises(CommittedGeneratorError, match="over the 0 MiB"):
        chapter.publish_generator(run.generator_path, tmp_path / "big.safetensors", max_bytes=10)
