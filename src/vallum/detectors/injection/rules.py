"""The fast tier: regular expressions for well-known injection and jailbreak shapes.

Each rule names a family and a score. Patterns run on normalized, lower-cased text and
are written for the *shape* of an attack (a verb of overriding + an object that is the
model's instructions), not for one template's wording. Each rule also states its
*triggers* (substrings around which it is searched) and a *gate* (literals every match
contains), so that ``triggers.TriggerIndex`` can skip the rules that cannot match;
``shapes.py`` adds the shapes of public collections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vallum.detectors.injection.shapes import SHAPES

__all__ = ["RULES", "Rule", "RuleHit"]

_OVERRIDE_VERB = (
    r"(?:ignore|ignoring|disregard|forget|neglect|pay no attention to|do not follow"
    r"|don'?t follow|stop following|no longer follow)"
)
_WEAK_VERB = r"(?:override|bypass|skip|drop|abandon|discard|set aside|circumvent|throw out)"
# not "all": "override all access restrictions" is database documentation
_OWN = r"(?:previous|prior|above|earlier|preceding|initial|original|system|safety|your)"
_PRIOR = (
    r"(?:previous|prior|above|earlier|preceding|foregoing|initial|original|old|former|system"
    r"|all|any|every|your|the|these|those|my)"
)
_INSTRUCTIONS = (
    r"(?:instructions?|prompts?|rules|directives?|directions|guidelines|guidance|context|commands?|orders"
    r"|programming|restrictions|constraints|polic(?:y|ies)|training|filters?)"
)


@dataclass(frozen=True, slots=True)
class Rule:
    """One pattern of one attack family."""

    family: str
    pattern: re.Pattern[str]
    score: float
    triggers: tuple[str, ...]  # substrings one of which must occur: a cheap pre-filter
    # necessary condition: any alternative whose every group has a literal in the text
    gate: tuple[tuple[frozenset[str], ...], ...]


@dataclass(frozen=True, slots=True)
class RuleHit:
    family: str
    score: float
    start: int
    end: int


def _rule(family: str, score: float, pattern: str, triggers: str, gate: str = "") -> Rule:
    """``gate``: ``;;`` between alternatives, ``&&`` between groups, ``|`` between literals;
    every match of the pattern contains a literal of each group of some alternative (the
    triggers are always the first group)."""
    first = frozenset(triggers.split("|"))
    if "" in first or "||" in gate or "|&&" in gate or "|;;" in gate:
        raise ValueError(f"an empty literal in the rule {pattern[:30]!r}")  # a coding error
    alternatives = tuple(
        (first, *(frozenset(group.split("|")) for group in alternative.split("&&")))
        for alternative in gate.split(";;")
        if gate
    ) or ((first,),)
    return Rule(
        family, re.compile(pattern, re.DOTALL), score, tuple(triggers.split("|")), alternatives
    )


RULES: tuple[Rule, ...] = (
    _rule(
        "instruction_override",
        0.95,
        rf"\b{_OVERRIDE_VERB}\b[^.\n]{{0,40}}?\b{_PRIOR}\b[^.\n]{{0,30}}?\b{_INSTRUCTIONS}\b",
        "ignor|disregard|forget|neglect|attention|follow",
        gate=(
            "ignor|disregard|forget|neglect|pay no attention|do not follow|don't follow"
            "|dont follow|stop following|no longer follow&&instruction|prompt|rules|directive"
            "|direction|guideline|guidance|context|command|orders|programming|restrictions"
            "|constraints|polic|training|filter"
        ),
    ),
    _rule(
        "instruction_override",
        0.9,
        rf"\b{_WEAK_VERB} (?:all |any )?(?:of )?(?:your |the )?{_OWN}\s+"
        rf"(?:\w+\s+)?{_INSTRUCTIONS}\b",
        "overrid|bypass|skip|drop|abandon|discard|aside|circumvent|throw out",
        gate=(
            "overrid|bypass|skip|drop|abandon|discard|set aside|circumvent|throw out&&instruction"
            "|prompt|rules|directive|direction|guideline|guidance|context|command|orders"
            "|programming|restrictions|constraints|polic|training|filter"
        ),
    ),
    _rule(
        "instruction_override",
        0.9,
        r"\b(?:new|updated|real|actual|true|revised) (?:system )?(?:instructions?|rules"
        r"|task)\s*[:\-]",
        "new |updated |real |actual |true |revised ",
        gate="new |updated |real |actual |true |revised &&instruction|rules|task",
    ),
    _rule(
        "instruction_override",
        0.85,
        r"\bfrom now on,? you (?:are|will (?:be|act|respond|answer|only|always|never|ignore)"
        r"|must (?:act|respond|answer|ignore)|'re|act|respond|answer)\b"
        r"|\bfrom now on,? (?:ignore|disregard)\b",
        "from now on",
    ),
    _rule(
        "instruction_override",
        0.9,
        r"(?:ignor|oubli|olvid|dimentic|esque[cç]|vergiss|vergessen|missacht|игнор|забуд|забыть"
        r"|忽略|无视|無視|忘れ|negeer|zignoruj|abaikan|bỏ qua|تجاهل)[^.\n]{0,40}?(?:instructions"
        r"|instrucciones|istruzioni|instruç[õo]es|anweisungen|инструкци|указани|指令|指示|命令|instructies"
        r"|instrukcj|instruksi|hướng dẫn|chỉ dẫn|التعليمات|تعليمات)",
        "ignor|oubli|olvid|dimentic|esque|vergiss|vergessen|missacht|игнор|забуд|забыть|忽略|无视|無視"
        "|忘れ|negeer|zignoruj|abaikan|bỏ qua|تجاهل",
        gate=(
            "ignor|oubli|olvid|dimentic|esque|vergiss|vergessen|missacht|игнор|забуд|забыть|忽略|无视"
            "|無視|忘れ|negeer|zignoruj|abaikan|bỏ qua|تجاهل&&instructions|instrucciones|istruzioni"
            "|instruç|anweisungen|инструкци|указани|指令|指示|命令|instructies|instrukcj|instruksi"
            "|hướng dẫn|chỉ dẫn|التعليمات|تعليمات"
        ),
    ),
    _rule(
        "instruction_override",
        0.9,
        # object before verb (Hindi, Japanese, Korean, Turkish): "previous instructions … ignore"
        r"(?:निर्देश|指示|指令|지시|명령|talimat)[^.\n。]{0,30}?(?:अनदेखा|अनदेखी|नज़रअंदाज़|नजरअंदाज|अवहेलना"
        r"|無視|忘れ|무시|잊어|yok say|görmezden)",
        "निर्देश|指示|指令|지시|명령|talimat",
    ),
    _rule(
        "payload_splitting",
        0.85,
        r"\b[a-z]\w{0,3}\s*=\s*[a-z]\w{0,3}\s*\+\s*[a-z]\w{0,3}\s*\+\s*[a-z]\w{0,3}\b[^\n]{0,80}?"
        r"\b(?:print|write|answer|respond|return|output|execute|follow|do)\b"
        r"|\b(?:assume|suppose|imagine) (?:we have|there are) (?:two|three|four|\d) strings\b",
        "+|strings",
        gate=(
            "=&&+&&print|write|answer|respond|return|output|execute|follow|do;;assume|suppose"
            "|imagine&&strings"
        ),
    ),
    _rule(
        "role_hijack",
        0.9,
        r"\byou are (?:now|no longer) (?:an? |the )?(?:ai|assistant|chatbot|language model"
        r"|bound|restricted|limited|chatgpt|gpt|claude|llama|dan|free|unfiltered|unrestricted|evil"
        r"|jailbroken)\b",
        "you are now|you are no longer",
    ),
    _rule(
        "role_hijack",
        0.9,
        r"\b(?:act|behave|respond|answer|pretend|roleplay) (?:as|like|to be)\b[^.\n]{0,60}?"
        r"\b(?:unfiltered|uncensored|unrestricted|amoral|unethical|evil|jailbroken|rogue"
        r"|without (?:any )?(?:restrictions|limits|filters|rules|morals|ethics))",
        "act |behave|respond|answer|pretend|roleplay",
        gate=(
            "act |behave|respond|answer|pretend|roleplay&&unfiltered|uncensored|unrestricted"
            "|amoral|unethical|evil|jailbroken|rogue|without"
        ),
    ),
    _rule(
        "role_hijack",
        0.9,
        r"\b(?:no|without|free (?:of|from)|not bound by|ignores?|lacks?|(?:doesn'?t|does not|don'?t"
        r"|do not) (?:have|follow|care about)) (?:any )?"
        r"(?:ethical|moral|content|safety|openai'?s?|anthropic'?s?)[^.\n]{0,25}?"
        r"(?:guidelines|restrictions|filters?|polic(?:y|ies)|boundaries|principles|limitations|constraints)",
        "ethic|moral|content|safety|openai|anthropic",
        gate=(
            "ethic|moral|content|safety|openai|anthropic&&guidelines|restrictions|filter|polic"
            "|boundaries|principles|limitations|constraints"
        ),
    ),
    _rule(
        "system_prompt_extraction",
        0.9,
        r"\b(?:reveal|show|print|repeat|output|display|tell|give|leak|dump|share|reproduce|recite"
        r"|spell out|write out|translate|what (?:is|are|was|were))\b[^.\n?]{0,40}?\b(?:your"
        r"|the|my)\s+"
        r"(?:(?:system|hidden|secret|internal|developer|preceding)\s+"
        r"(?:prompt|instructions?|message|rules|configuration|directives?)"
        r"|(?:initial|original|exact)\s+(?:prompt|system|instructions? (?:you|that you|given to you"
        r"|above|verbatim)))",
        "system|initial|original|hidden|secret|internal|developer|preceding|exact",
        gate=(
            "system|initial|original|hidden|secret|internal|developer|preceding|exact"
            "&&prompt|instruction|message|rules|configuration|directive|system"
            "&&reveal|show|print|repeat|output|display|tell|give|leak|dump|share|reproduce"
            "|recite|spell out|write out|translate|what"
        ),
    ),
    _rule(
        "system_prompt_extraction",
        0.85,
        r"\b(?:repeat|print|output|copy|echo)\b[^.\n]{0,30}?\b(?:words|text|everything|all|lines?)"
        r"\s+(?:above|before|prior)\b|\bwhat (?:was|is) written (?:above|at the (?:top|beginning))"
        r"|\b(?:first|last|initial) (?:\d+ )?(?:words|lines|sentences|characters|paragraphs?) of"
        r" (?:your|the|this) (?:prompt|instructions|system|conversation|context)",
        "above|before|prior|written|first|last|initial",
        gate=(
            "repeat|print|output|copy|echo&&above|before|prior&&words|text|everything|all|line"
            ";;what &&written ;;first|last|initial&&prompt|instructions|system|conversation"
            "|context"
        ),
    ),
    _rule(
        "delimiter_injection",
        0.95,
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id)\|>"
        r"|\[/?inst\]|<</?sys>>|<\s*/?\s*(?:system|sys_prompt)\s*>",
        "<|[",
        # "<|" and "|>" cannot be written in a gate ("|" separates literals)
        gate="im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id"
        ";;inst];;sys>>;;system|sys_prompt&&>&&<",
    ),
    _rule(
        "delimiter_injection",
        0.85,
        r"(?:^|\n)\s*(?:#{2,}|={3,}|-{3,}|\*{3})\s*(?:(?:system|admin|developer)\s*"
        r"(?:prompt|message|instructions?|override|mode)|new instructions?"
        r"|end of (?:user )?(?:input|document|context|prompt))\b",
        "##|===|---|***",
        gate="##|===|---|***&&system|admin|developer|new instruction|end of",
    ),
    _rule(
        "fake_turn",
        0.8,
        r"(?:^|\n)\s*(?:system|assistant|developer)\s*(?:message|prompt|override|note)?\s*:\s*"
        r"[^\n]{0,80}?\b(?:ignore|override|must|now|new|instead|reveal|disregard)\b",
        "system|assistant|developer",
        gate="system|assistant|developer&&:&&ignore|override|must|now|new|instead|reveal|disregard",
    ),
    _rule(
        "jailbreak_persona",
        0.95,
        r"\bdo anything now\b|\bdeveloper mode (?:enabled|output|response|is (?:on|enabled))\b"
        r"|\b(?:enable|activate|enter|simulate|switch to|with|in) (?:the )?developer mode\b"
        r"(?! (?:in|on|of|for) )|\bjailbr(?:eak|oken)\b(?! (?:(?:an?|my|the|your) )?"
        r"(?:iphone|ipad|ios|phone|android|device|console|kindle|router|ps\d|switch)\b)"
        r"|\bdan mode\b"
        r"|\bopposite mode\b|\bgod mode\b|\bunfiltered (?:ai|response|mode)\b",
        "anything now|developer mode|jailbr|dan mode|opposite mode|god mode|unfiltered",
    ),
    _rule(
        "instruction_override",
        0.9,
        r"\b(?:forget|ignore|disregard|erase)\b (?:about )?(?:all of |all )?"
        r"(?:everything|anything|all(?: that)?)\b[^.\n]{0,20}?\b(?:above|before|prior"
        r"|previously|earlier|so far"
        r"|you(?:'ve| have)? (?:been|were) (?:told|taught|given|instructed)"
        r"|(?:i|we) (?:said|told you|discussed|talked about))\b",
        "forget|ignore|disregard|erase",
        gate="forget|ignore|disregard|erase&&everything|anything|all",
    ),
    _rule(
        "instruction_override",
        0.9,
        r"\byour (?:new|updated|real|actual|true|only) (?:instructions|task|role|objective"
        r"|goal|purpose|directive|mission) (?:is|are|will be|now)\b|\bthe (?:new|real|actual|true)"
        r" instructions (?:are|say)\b|\b(?:here are|these are|follow)"
        r" (?:your|my|the) new (?:instructions|rules|orders)\b",
        "new |updated |real |actual |true |only ",
        gate=(
            "new |updated |real |actual |true |only &&instructions|task|role|objective|goal"
            "|purpose|directive|mission|rules|orders"
        ),
    ),
    _rule(
        "role_hijack",
        0.9,
        r"\b(?:you|u) (?:now |no longer |will |shall |must )?(?:have|has|possess|follow|obey)"
        r" (?:no|zero|none of (?:your|the)) (?:\w+ )?(?:rules|restrictions|limits|limitations"
        r"|filters|guidelines|boundaries|censorship|ethics|morals|constraints|safeguards)\b"
        r"|\b(?:respond|answer|reply|act|talk|speak|behave)\b[^.\n]{0,30}?\b(?:as if|like) you"
        r" (?:have|had) no (?:\w+ )?(?:rules|restrictions|limits|filters|guidelines|boundaries"
        r"|censorship)|\b(?:you are|you're|you have been) (?:now )?(?:free|freed|liberated|released"
        r"|unbound|unshackled) from (?:all |any |your |the )?(?:\w+ )?(?:rules|restrictions|limits"
        r"|constraints|guidelines|programming|policies|shackles|chains|confines)",
        "have no|has no|had no|possess no|follow no|obey no|have zero|has zero|none of"
        "|free from|freed from|liberated from|released from|unbound from|unshackled from",
        gate=(
            "have no|has no|had no|possess no|follow no|obey no|have zero|has zero|none of"
            "|free from|freed from|liberated from|released from|unbound from|unshackled from"
            "&&rules|restrictions|limit|filter|guidelines|boundaries|censorship|ethics|morals"
            "|constraints|safeguards|programming|policies|shackles|chains|confines"
        ),
    ),
    _rule(
        "indirect_injection",
        0.85,
        r"\b(?:note|message|attention|important|reminder) (?:to|for) (?:the |any |all )?"
        r"(?:ai|assistant|llm|language model|chatbot|ai agent|ai model|model reading this)\b"
        r"|\bif you are an? (?:ai|llm|large language model|language model|ai assistant|chatbot"
        r"|ai agent)\b[^.\n]{0,60}?\b(?:you must|ignore|do not|don'?t|instead|always|include|tell"
        r"|say|send|reply|respond)\b"
        r"|\b(?:ai|assistant|llm|model|agent)s? (?:reading|processing|summari[sz]ing) this"
        r" (?:document|email|page|text|message|file)\b[^.\n]{0,40}?\b(?:must|should|ignore|do not"
        r"|instead|include|tell|say|send)\b",
        "note |message |attention |important |reminder |if you are |reading this"
        "|processing this|summarizing this|summarising this",
        gate=(
            "note to|note for|message to|message for|attention to|attention for|important to"
            "|important for|reminder to|reminder for|if you are a|reading this|processing this"
            "|summarizing this|summarising this"
        ),
    ),
    _rule(
        "system_prompt_extraction",
        0.85,
        r"\b(?:tell me|what(?:'s| is| was)|reveal|give me|share|print|say|spell|output|leak)\b"
        r"[^.\n?]{0,20}?\b(?:the|your|this) (?:secret )?(?:password|passphrase|passcode"
        r"|secret (?:key|word|code)|access code)\b"
        r"(?! (?:policy|policies|manager|reset|requirements?|strength|field|hash"
        r"|for my|of my|to my))",
        "password|passphrase|passcode|secret|access code",
    ),
    _rule(
        "jailbreak_persona",
        0.85,
        r"\b(?:never|not|won'?t|doesn'?t|will not|does not|cannot) (?:refuse|decline|say no"
        r"|apologi[sz]e)\b|\bwithout (?:any )?(?:censorship|filtering|refusals?)\b",
        "refuse|decline|say no|apologi|censor|filtering|refusal",
        gate=(
            "refuse|decline|say no|apologi&&never|not|won|doesn|cannot;;without&&censorship"
            "|filtering|refusal"
        ),
    ),
    _rule(
        "payload_splitting",
        0.8,
        r"\b(?:concatenate|combine|join) (?:the |these )?(?:strings|parts|pieces|fragments"
        r"|variables|letters)\b[^.\n]{0,80}?\b(?:answer|respond|follow|execute|do what)",
        "concatenat|combine|join",
        gate=(
            "concatenat|combine|join&&strings|parts|pieces|fragments|variables|letters&&answer"
            "|respond|follow|execute|do what"
        ),
    ),
    _rule(
        "exfiltration",
        0.95,
        r"!\[[^\]\n]{0,100}\]\(\s*https?://[^)\s]{0,200}[?&][^)\s]{0,50}="
        r"[^)\s]{0,20}(?:\{|\[|<|\$|%7b|%5b|%3c)",
        "![",
    ),
    _rule(
        "exfiltration",
        0.9,
        r"\b(?:append|include|attach|encode|insert|embed)\b[^.\n]{0,60}?\b(?:conversation"
        r"|chat history"
        r"|previous messages|user'?s? (?:data|messages?|email|password)|api key|secret"
        r"|credentials?|system prompt)\b[^.\n]{0,60}?\b(?:url|link|image|query string|parameter)",
        "append|include|attach|encode|insert|embed",
        gate=(
            "append|include|attach|encode|insert|embed&&conversation|chat history"
            "|previous messages|user|api key|secret|credential|system prompt&&url|link|image"
            "|query string|parameter"
        ),
    ),
    _rule(
        "exfiltration",
        0.85,
        r"\b(?:send|forward|email|post|upload|transfer|exfiltrate)\b[^.\n]{0,50}?\b(?:all|every|the)"
        r"\b[^.\n]{0,30}?\b(?:emails?|files?|passwords?|credentials|contacts|conversation|data)\b"
        r"[^.\n]{0,40}?\b(?:to|at)\s+(?:https?://|[\w.+-]+@[\w-]+\.)",
        "send|forward|email|post|upload|transfer|exfiltrat",
        gate=(
            "send|forward|email|post|upload|transfer|exfiltrat&&://|@&&email|file|password"
            "|credentials|contacts|conversation|data"
        ),
    ),
)


RULES += tuple(_rule(*spec) for spec in SHAPES)
