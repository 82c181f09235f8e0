"""Answers a task with a task_result line that is not JSON; behaves when asked to."""

import os
import sys

PROTOCOL_OUT_FD = sys.modules["__main__"].PROTOCOL_OUT_FD


def handle(task, context):
    if task["payload"] == "behave":
        return "fine"
    line = b'{"type":"task_result","id":"' + task["id"].encode() + b'","ok":tru\xff, result}\n'
    os.write(PROTOCOL_OUT_FD, line)
    return "never sent in time"
