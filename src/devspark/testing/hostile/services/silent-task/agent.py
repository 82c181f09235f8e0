"""Never answers a task: blocks forever in handle; behaves when asked to."""

import threading


def handle(task, context):
    if task["payload"] == "behave":
        return "fine"
    threading.Event().wait()
