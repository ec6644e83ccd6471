"""Measure what one login costs in password hashing with the panel's Argon2id parameters.

Run with the project's virtualenv:

    .venv/bin/python benchmarks/bench_login.py [--rounds 30] [--time-cost 2 --memory-kib 47104]

Without options it uses the defaults of `AuthSettings`, the parameters a fresh install
logs in with. Each round verifies a correct password once, in this process, the same call
`POST /api/v1/auth/login` makes in a worker thread. The target is 50-150 ms a login: slow
enough to make guessing expensive, fast enough for people and for a 2-core server.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from wispanel.auth.passwords import password_hasher, verify_password
from wispanel.core.config import AuthSettings

TARGET_MS = (50.0, 150.0)


def parse_arguments() -> argparse.Namespace:
    defaults = AuthSettings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=30, help="verifications to time")
    parser.add_argument("--time-cost", type=int, default=defaults.argon2_time_cost)
    parser.add_argument("--memory-kib", type=int, default=defaults.argon2_memory_kib)
    parser.add_argument("--parallelism", type=int, default=defaults.argon2_parallelism)
    return parser.parse_args()


def main() -> None:
    arguments = parse_arguments()
    settings = AuthSettings(
        argon2_time_cost=arguments.time_cost,
        argon2_memory_kib=arguments.memory_kib,
        argon2_parallelism=arguments.parallelism,
    )
    hasher = password_hasher(settings)
    password = "correct horse battery staple"  # noqa: S105 - a benchmark input
    stored = hasher.hash(password)
    verify_password(hasher, stored, password)  # warm-up: allocate the memory once
    timings = []
    for _ in range(arguments.rounds):
        started = time.perf_counter()
        if not verify_password(hasher, stored, password):
            raise SystemExit("verification failed; the benchmark measures nothing")
        timings.append((time.perf_counter() - started) * 1000)
    median = statistics.median(timings)
    low, high = TARGET_MS
    verdict = "within" if low <= median <= high else "outside"
    print(
        f"argon2id t={settings.argon2_time_cost} m={settings.argon2_memory_kib} KiB "
        f"p={settings.argon2_parallelism}: median {median:.1f} ms, "
        f"min {min(timings):.1f} ms, max {max(timings):.1f} ms over {arguments.rounds} logins"
    )
    print(f"target {low:.0f}-{high:.0f} ms: {verdict} the target")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )


if __name__ == "__main__":
    main()
