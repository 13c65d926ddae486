"""Settings survive in the PNG, in our chunks and in AUTOMATIC1111's ``parameters``."""

from __future__ import annotations

from PIL import Image

from sparklio_desktop.core.local import ImageMeta, a1111_parameters, encode_png, parse_a1111_parameters, read_png_text

META = ImageMeta(
    prompt="a cat in a hat, watercolor",
    negative_prompt="blurry",
    seed=1234567890,
    steps=25,
    guidance=7.5,
    width=512,
    height=768,
    model="dreamshaper_8",
    sampler="Euler",
    model_type="sd1",
)


def test_a1111_parameters_text() -> None:
    assert a1111_parameters(META) == (
        "a cat in a hat, watercolor\n"
        "Negative prompt: blurry\n"
        "Steps: 25, Sampler: Euler, CFG scale: 7.5, Seed: 1234567890, Size: 512x768, "
        "Model: dreamshaper_8, Version: Sparklio Desktop"
    )


def test_chunks_read_back_with_pillow() -> None:
    png = encode_png(Image.new("RGB", (16, 16), "red"), META)
    text = read_png_text(png)
    assert text["prompt"] == META.prompt and text["negative_prompt"] == "blurry"
    assert (text["seed"], text["steps"], text["guidance"], text["size"]) == ("1234567890", "25", "7.5", "512x768")
    assert text["model"] == "dreamshaper_8" and text["parameters"] == a1111_parameters(META)


def test_parameters_round_trip_with_awkward_values() -> None:
    meta = ImageMeta("森の猫\nsecond line", "", 7, 2, 7.0, 64, 64, 'model, with: "quotes"')
    png = encode_png(Image.new("RGB", (8, 8)), meta)
    parsed = parse_a1111_parameters(read_png_text(png)["parameters"])
    assert parsed["prompt"] == "森の猫\nsecond line" and parsed["negative_prompt"] == ""
    assert parsed["Model"] == 'model, with: "quotes"'
    assert (parsed["Seed"], parsed["CFG scale"], parsed["Size"]) == ("7", "7", "64x64")
