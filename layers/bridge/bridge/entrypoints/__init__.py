"""Entry points: what Lambda calls. HTTP resolvers, stream and queue routers and SnapStart hooks turn
an AWS event into one use-case call with a Deadline, and its result into an answer, a log line and
a metric (bridge.entrypoints.outcomes holds that table)."""
