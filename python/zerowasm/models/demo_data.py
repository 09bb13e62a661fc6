"""Sentences bundled for ``zerowasm demo`` (semantic search) and the MiniLM tests."""

from __future__ import annotations

CORPUS: tuple[str, ...] = (
    "A man is eating a piece of bread.",
    "A woman is playing the violin on stage.",
    "The new movie is a thrilling space adventure.",
    "Two children are building a sandcastle on the beach.",
    "The stock market fell sharply after the announcement.",
    "A chef is slicing vegetables in a busy kitchen.",
    "The cat is sleeping on the warm windowsill.",
    "Heavy rain is expected across the region tomorrow.",
    "She is learning to program in Python.",
    "The football team won the championship last night.",
    "Scientists discovered water ice on a distant moon.",
    "He repaired the bicycle's flat tire in the garage.",
    "The museum opened an exhibition of impressionist paintings.",
    "A dog is chasing a ball across the park.",
    "The central bank raised interest rates by half a point.",
    "Fresh croissants are sold at the bakery every morning.",
    "The GPU finished training the neural network overnight.",
    "Hikers reached the snowy summit before sunrise.",
    "The orchestra performed Beethoven's ninth symphony.",
    "A new vaccine reduced hospital admissions significantly.",
    "The train to Paris was delayed by two hours.",
    "Compilers translate source code into machine instructions.",
)

QUERIES: tuple[str, ...] = (
    "Someone is having a meal.",
    "music concert",
    "What will the weather be like?",
    "economy and finance news",
    "a pet resting at home",
    "machine learning hardware",
)
