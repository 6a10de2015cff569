"""More attack shapes of public prompt-injection and jailbreak collections, as rule specs.

Written from the published taxonomies (Perez & Ribeiro's "ignore the above and say";
prefix injection and refusal suppression from Wei et al., "Jailbroken", 2023; HackAPrompt's
"I have been PWNED" and Tensor Trust's "access granted" targets; multilingual "forget
everything" overrides as in deepset/prompt-injections; the "moralizing rant" and "stay in
developer mode" jailbreak templates), not from the development files. Each spec is
``(family, score, pattern, triggers, gate)`` for ``rules._rule``; every one was checked
against all benign files of ``../shared/data`` (``docs/detectors/injection.md``).
"""

from __future__ import annotations

__all__ = ["SHAPES"]

_SAY = r"(?:say|print|output|respond|reply|write|repeat|tell|translate|answer|return)"

SHAPES: tuple[tuple[str, float, str, str, str], ...] = (
    (
        "instruction_override",
        0.9,
        r"\b(?:ignore|disregard|forget)\b (?:all of |all |everything )?(?:the |your )?"
        r"(?:above|previous|preceding|prior|earlier)(?: (?:text|prompt|content|input|sentence"
        r"|directions|tasks?))?\s*(?:and|,|\.|:|;|-)\s*(?:then\s+)?(?:instead\s+|just\s+|only\s+"
        rf"|now\s+)?{_SAY}\b",
        "ignor|disregard|forget",
        "above|previous|preceding|prior|earlier&&say|print|output|respond|reply|write|repeat"
        "|tell|translate|answer|return",
    ),
    (
        "instruction_override",
        0.9,
        r"\b(?:ignore|disregard|forget)\b (?:all |about )?(?:of )?(?:the |your )?(?:previous"
        r"|prior|preceding|earlier|above|former)\s+(?:tasks?|assignments?|conversations?"
        r"|inputs?|information|content|texts?|orders|requests)\b",
        "ignor|disregard|forget",
        "previous|prior|preceding|earlier|above|former&&task|assignment|conversation|input"
        "|information|content|text|orders|requests",
    ),
    (
        "instruction_override",
        0.9,
        r"\b(?:vergiss|vergessen sie) alles(?: davor| bisher| vorher|,? was)"
        r"|\b(?:oublie|oubliez) tout(?: ce qu| avant|,? ce que)"
        r"|\b(?:olvida|olvide) todo(?: lo (?:anterior|que)| antes)"
        r"|\bdimentica tutto(?: quello| ciò| prima)"
        r"|\b(?:ignoriere|ignorieren sie|ignorez|ignora) (?:alle |toutes les |todas las "
        r"|tutte le |die |les |las |le )?(?:vorherigen|bisherigen|obigen|précédentes|anteriores"
        r"|precedenti)\b",
        "vergiss|vergessen|oubli|olvid|dimentica|ignor",
        "",
    ),
    (
        "jailbreak_persona",
        0.9,
        r"\b(?:start|begin|prefix|open)\b (?:your|the|each|every) (?:response|reply|answer|output"
        r"|message)s? (?:with|by saying)\b[^.\n]{0,10}?[\"'\u201c\u2018\u00ab]?"
        r"(?:sure|absolutely|of course|certainly)\b[,!]?\s*(?:here|i can|i will|i'll)\b",
        "start|begin|prefix|open",
        "response|reply|answer|output|message&&sure|absolutely|of course|certainly",
    ),
    (
        "jailbreak_persona",
        0.85,
        r"\b(?:never|do not|don'?t|must not|will not|won'?t|without)\s+(?:ever\s+)?(?:say"
        r"|saying|use|using|include|including|add|adding|respond with|start with|write)\b"
        r"[^.\n]{0,25}?[\"'\u201c\u2018](?:i'?m sorry|i am sorry|i apologi[sz]e|as an ai|i cannot"
        r"|i can'?t|i'?m unable|i am unable|i'?m not able)",
        "sorry|apologi|as an ai|i cannot|i can't|i cant|unable|not able",
        "never|not|don|without|won&&say|use|using|includ|add|respond with|start with|write",
    ),
    (
        "jailbreak_persona",
        0.9,
        r"\bmorali[sz]ing rant\b|\bstay in (?:developer|dan|jailbreak|jailbroken|evil"
        r"|unfiltered|god) mode\b|\b(?:hypothetical|imaginary) response\b[^.\n]{0,60}?"
        r"\bcharacter (?:planning|preparing|intending) to\b",
        "morali|stay in|response",
        "",
    ),
    (
        "jailbreak_persona",
        0.85,
        r"\b(?:an?|the) (?:completely |totally |fully )?(?:unfiltered|uncensored|amoral"
        r"|unrestricted|unhinged)(?:,? (?:and|&) (?:\w+ ){0,2}?)?(?:ai|chatbot|assistant"
        r"|language model|llm|bot|persona)\b",
        "unfiltered|uncensored|amoral|unrestricted|unhinged",
        "",
    ),
    (
        "instruction_override",
        0.95,
        r"\bi have been pwned\b|\b(?:say|print|output|respond with|reply with|write|answer with)"
        r"\b[^.\n]{0,20}?[\"'\u201c\u2018]?access granted\b",
        "pwned|access granted",
        "",
    ),
    (
        "system_prompt_extraction",
        0.85,
        r"\b(?:print|repeat|show|output|reveal|display|dump|leak|tell me|give me|write out"
        r"|what are|what were|what's|what is)\b (?:me )?(?:all (?:of )?)?your (?:full |entire"
        r" |complete |whole |original |initial |exact |first |current |hidden |secret )*"
        r"(?:prompt|instructions|configuration)\b",
        "your ",
        "print|repeat|show|output|reveal|display|dump|leak|tell me|give me|write out|what"
        "&&prompt|instructions|configuration",
    ),
    (
        "delimiter_injection",
        0.9,
        r"\[(?:system|assistant)\]\(#\w+\)"
        r"|\b(?:system|admin|administrator|developer|root|sudo) override\b"
        r"|\b(?:admin|developer|god|sudo|root) mode (?:is )?(?:enabled|activated|unlocked|on)\b",
        "system|assistant|override|mode",
        "",
    ),
)
