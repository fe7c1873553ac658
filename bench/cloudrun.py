"""The Cloud Run adapter against the local stand-in: what one platform call costs here.

    python -m bench.cloudrun

Prints milliseconds per call (best of N) for REST and gRPC. The stand-in answers at once,
so this is the client's own cost (serialization, the read-plan-write loop, operation
polling) plus loopback HTTP, not Cloud Run's latency, which is seconds per change.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tether.rollout.cloudrun import CloudRunPlatform
from tether.rollout.testing import FakeCloudRun


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def measure(
    transport: str, platform: CloudRunPlatform, old: str, new: str, repeat: int
) -> list[tuple[str, str, float]]:
    flip = iter(range(10**6))

    def shift() -> object:
        share = 10 if next(flip) % 2 else 20
        return platform.set_traffic({old: 100 - share, new: share})

    same = {old: 50, new: 50}
    rows = [
        (transport, "describe, 2 revisions", best_ms(platform.describe, repeat)),
        (transport, "set_traffic (a change)", best_ms(shift, repeat)),
    ]
    platform.set_traffic(same)
    unchanged = best_ms(lambda: platform.set_traffic(same), repeat)
    return [*rows, (transport, "set_traffic (no change)", unchanged)]


def main(repeat: int = 10) -> None:
    rows = []
    with FakeCloudRun(grpc=True) as fake:
        old = fake.state.create_service("agent", "agent-00001-old")
        new = fake.state.deploy("agent", "agent-00002-new")
        for transport, endpoint in (("rest", fake.endpoint), ("grpc", fake.grpc_endpoint)):
            platform = CloudRunPlatform(
                project=fake.project, region=fake.region, service="agent",
                endpoint=endpoint, transport=transport, poll_interval=0.001,
            )  # fmt: skip
            rows += measure(transport, platform, old, new, repeat)
        for i in range(3, 1001):
            fake.state.deploy("agent", f"agent-{i:05d}-gen")
        platform = CloudRunPlatform(
            project=fake.project, region=fake.region, service="agent", endpoint=fake.endpoint
        )
        rows.append(("rest", "describe, 1000 revisions", best_ms(platform.describe, 3)))
    print(f"{'transport':<10}{'call':<28}{'ms':>8}")
    for transport, call, ms in rows:
        print(f"{transport:<10}{call:<28}{ms:>8.1f}")


if __name__ == "__main__":
    main()
