#!/usr/bin/env python3
"""A consumer outside the server: LISTEN cqrs_events, poll on each
notification, ack, until an event of the stop type arrives.

    python3 test/client/consumer.py --dsn "host=... port=... dbname=..." \
        --name ext1 [--stop-type ConsumerStop] [--batch 100] [--timeout 60]
        [--crash-after N]

Uses only the public API: cqrs.subscribe / cqrs.poll / cqrs.ack.  NOTIFY
is a doorbell: the consumer always re-reads from its acknowledged position.
It checks what it read (strictly increasing positions with no gap after
the position it started from, no event twice) and prints one JSON line:
{"events", "first", "last", "start", "notifications", "polls",
 "duplicates", "gaps", "stopped"}.  Exit 0 when the stop event was read
and nothing was wrong.  With --crash-after N it exits (code 3) without
acking after reading N events, like a consumer that dies mid-batch.
"""
import argparse
import json
import select
import sys
import time

import psycopg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--stop-type", default="ConsumerStop")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--crash-after", type=int, default=0)
    args = ap.parse_args()

    conn = psycopg.connect(args.dsn, autocommit=True)
    notified = [0]

    def on_notify(n):
        notified[0] += 1

    # psycopg calls the handler while it reads the server's messages
    conn.add_notify_handler(on_notify)
    conn.execute("LISTEN cqrs_events")
    start = conn.execute("SELECT cqrs.subscribe(%s)", (args.name,)).fetchone()[0]
    # ready: the test waits for this line before producing
    print(json.dumps({"ready": True, "start": start}), flush=True)

    expected_next = start + 1
    seen = set()
    stats = {"events": 0, "first": None, "last": None, "start": start,
             "notifications": 0, "polls": 0, "duplicates": 0, "gaps": 0,
             "stopped": False}
    deadline = time.monotonic() + args.timeout

    while not stats["stopped"] and time.monotonic() < deadline:
        # drain everything after the acknowledged position
        while True:
            rows = conn.execute(
                "SELECT global_position, event_type FROM cqrs.poll(%s, %s)",
                (args.name, args.batch)).fetchall()
            stats["polls"] += 1
            if not rows:
                break
            for pos, etype in rows:
                if pos in seen:
                    stats["duplicates"] += 1
                elif pos != expected_next:
                    stats["gaps"] += 1
                seen.add(pos)
                expected_next = pos + 1
                stats["events"] += 1
                if stats["first"] is None:
                    stats["first"] = pos
                stats["last"] = pos
                if args.crash_after and stats["events"] >= args.crash_after:
                    print(json.dumps(stats), flush=True)
                    sys.exit(3)
                if etype == args.stop_type:
                    stats["stopped"] = True
            # ack the batch once it has been processed
            conn.execute("SELECT cqrs.ack(%s, %s)", (args.name, rows[-1][0]))
            if stats["stopped"]:
                break
        if stats["stopped"]:
            break
        # wait for the doorbell (or poll again after a second anyway); the
        # next query reads the notification and calls on_notify
        select.select([conn.fileno()], [], [], 1.0)

    stats["notifications"] = notified[0]
    print(json.dumps(stats), flush=True)
    ok = stats["stopped"] and stats["duplicates"] == 0 and stats["gaps"] == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
