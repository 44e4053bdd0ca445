import torch

from datasets.base import Split
from datasets.batching import BatchLoader, random_crop_flip


def make_split(n: int = 10, c: int = 1, size: int = 8) -> Split:
    images = torch.arange(n * c * size * size).reshape(n, c, size, size).remainder(251).to(torch.uint8)
    return Split(images, torch.arange(n) % 3)


def test_each_epoch_is_a_seeded_permutation_of_the_whole_split():
    split = make_split(23)
    loader = BatchLoader(split, 5, (0.0,), (1.0,), shuffle=True, seed=7)
    seen = []
    for epoch in (0, 1):
        loader.set_epoch(epoch)
        seen.append(torch.cat([y for _, y in loader]))
        assert len(seen[-1]) == 23
    again = BatchLoader(split, 5, (0.0,), (1.0,), shuffle=True, seed=7)
    again.set_epoch(1)
    assert torch.equal(torch.cat([y for _, y in again]), seen[1])
    first = [x for x, _ in BatchLoader(split, 23, (0.0,), (1.0,), shuffle=True, seed=7)][0]
    assert sorted(first.flatten().tolist()) == sorted((split.images.float() / 255).flatten().tolist())
    other = [x for x, _ in BatchLoader(split, 23, (0.0,), (1.0,), shuffle=True, seed=8)][0]
    assert not torch.equal(first, other)


def test_normalisation_is_per_channel():
    split = make_split(4, c=3)
    x, _ = next(iter(BatchLoader(split, 4, (0.1, 0.2, 0.3), (0.5, 0.25, 2.0))))
    expected = (split.images.float() / 255 - torch.tensor([0.1, 0.2, 0.3])[:, None, None]) / torch.tensor(
        [0.5, 0.25, 2.0])[:, None, None]
    assert torch.allclose(x, expected, atol=1e-6)


def test_random_crop_is_a_shifted_window_of_the_zero_padded_image():
    images = make_split(16, c=2).images + 1  # no zeros inside, so the padding is visible
    out = random_crop_flip(images, 2, False, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    shifts = set()
    for i in range(len(images)):
        hits = [(dy, dx) for dy in range(5) for dx in range(5) if torch.equal(out[i], padded[i, :, dy:dy + 8, dx:dx + 8])]
        assert hits, f"sample {i} is not a window of its padded image"
        shifts.add(hits[0])
    assert len(shifts) > 3


def test_crop_and_flip_together_give_a_window_of_the_image_or_of_its_mirror():
    images = make_split(64, c=3).images + 1
    out = random_crop_flip(images, 2, True, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    mirrored = 0
    for i in range(len(images)):
        windows = [(m, dy, dx) for m, src in ((0, padded[i]), (1, padded[i].flip(2))) for dy in range(5)
                   for dx in range(5) if torch.equal(out[i], src[:, dy:dy + 8, dx:dx + 8])]
        assert windows, f"sample {i} is neither a window of its image nor of its mirror"
        mirrored += windows[0][0]
    assert 10 < mirrored < 54


def test_random_hflip_flips_about_half_the_images_left_to_right():
    images = make_split(200).images
    out = random_crop_flip(images, 0, True, torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, i.flip(2)) for o, i in zip(out, images)]
    kept = [torch.equal(o, i) for o, i in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 60 < sum(flipped) < 140


def test_distributed_ranks_share_each_global_batch_without_overlap():
    split = make_split(21)
    split = Split(split.images, torch.arange(21))
    shards = []
    for rank in (0, 1):
        loader = BatchLoader(split, 8, (0.0,), (1.0,), shuffle=True, seed=3, rank=rank, world_size=2)
        shards.append([y for _, y in loader])
        assert len(loader) == len(shards[-1]) == 3
    for a, b in zip(*shards):
        assert not set(a.tolist()) & set(b.tolist())
    assert len(torch.cat([torch.cat(s) for s in shards]).unique()) == 21
