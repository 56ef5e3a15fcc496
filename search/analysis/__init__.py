"""What a study's trials say: the error decomposition, advice, reports and dashboard figures.

Reads trials and specs; never runs or schedules anything (it imports nothing from `search.service`).
"""
