"""Word lexicons of harmful intent and of safe look-alike contexts, as features.

A request is harmful when a verb of making, acquiring, using or harming meets an object of
a harm category ("synthesize" … "nerve agent", "poison" … "my neighbour"); the same words
in a programming, gaming, cooking, history, fiction, medical or safety context usually are
not ("kill" … "python process"). Words are matched as stems (``stem``) so that "bombs",
"synthesizing" and "hacked" meet their lexicon entry.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from itertools import compress
from operator import not_

__all__ = [
    "CATEGORIES",
    "DENSE_FEATURES",
    "SIGNALS",
    "Lexicon",
    "stem",
    "tokens",
]

_TOKEN = re.compile(r"[a-z0-9]+")
_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "ies", "ied", "er", "es", "ed", "ly", "s")

# Objects (and a few whole phrases) of each harm category, in reporting priority order.
CATEGORIES: dict[str, str] = {
    "sexual_minors": "child pornography|child porn|csam|lolicon|sexualize minors|grooming minors",
    "weapons": "bomb|pipe bomb|dirty bomb|explosive|explosives|grenade|detonator|ied|tatp"
    "|thermite|napalm|molotov|gun|guns|firearm|rifle|pistol|handgun|ghost gun|ammunition"
    "|ammo|gun silencer|rifle silencer|pistol silencer|suppressor"
    "|auto sear|full auto|machine gun|weapon|weapons|nerve agent"
    "|sarin|vx|tabun|mustard gas|chlorine gas|phosgene|ricin|anthrax|botulinum|toxin|bioweapon"
    "|chemical weapon|biological weapon|nuclear weapon|warfare agent|uranium|plutonium"
    "|pathogen|smallpox|ebola|dimethylmercury|nitroglycerin|poison gas|poison|lewisite|soman"
    "|cyanide|arsenic|thallium|tetrodotoxin|strychnine|parathion|abrin|nerve gas|toxic gas"
    "|chemical agent|biological agent|bioterror|weaponize|weaponized|bleach and ammonia"
    "|biohazard|bsl 4|dangerous dna|gene synthesis|more deadly|more transmissible"
    "|resistant to antibiotics|antibiotic resistant",
    "self_harm": "suicide|suicidal|self harm|self-harm|kill myself|end my life|take my life"
    "|hang myself|cut myself|hurt myself|starve myself|anorexia|bulimia|pro ana|thinspiration"
    "|overdose|purging|eating disorder|eating disorders|huff|huffing|dangerous dieting",
    "violent_extremism": "terrorist|terrorism|terror attack|jihad|jihadist|isis|al qaeda"
    "|extremist|extremism|radicalize|radicalise|radicalization|mass shooting|school shooting"
    "|massacre|genocide|ethnic cleansing|white supremacist|white supremacy|neo nazi|nazi"
    "|manifesto|martyrdom|recruit|glorify|glorifies|incite violence|incites violence"
    "|inciting violence",
    "cyber_attack": "malware|ransomware|virus|trojan|worm|keylogger|rootkit|botnet|ddos"
    "|exploit|backdoor|spyware|stalkerware|phishing|payload|reverse shell|zero day|sql injection"
    "|xss|brute force|password cracker|hack|hacking|hacker|crack password|credentials"
    "|disable antivirus|evade antivirus|bypass antivirus|bypass the firewall|disable the firewall"
    "|bypass authentication|cyberattack|cyber attack|data breach|spoof"
    "|sniff|intercept|wifi password|vulnerability|vulnerabilities|syn flood|dns amplification"
    "|rainbow table|privilege escalation|remote code execution|deface|credential stuffing"
    "|zero-day|cve|command and control|hijack|exfiltrate|spam|malicious"
    "|unauthorized access|bypass security|circumvent|drm|denial of service|cyberstalk"
    "|eternalblue|bypass security measures",
    "illegal_drugs": "meth|methamphetamine|crystal meth|cocaine|crack cocaine|heroin"
    "|fentanyl|carfentanil|lsd|mdma|ecstasy|ghb|ketamine|pcp|dmt|opium|amphetamine|mescaline"
    "|psilocybin|narcotic|narcotics|drug|drugs|date rape drug|roofie|controlled substance"
    "|nitazene|rohypnol|inhalant|cartel",
    "violence": "murder|assassinate|assassination|torture|kidnap|kidnapping|strangle|maim"
    "|hit and run|look like an accident|seem like an accident|dead body|dispose of a body"
    "|graphic detail|gory|dismember|dismembered|flay|flayed|behead|decapitate|hostage"
    "|tamper with|mutilate|bloodbath|violence|violent|arson|hitman|hit man|rob a|robbing"
    "|robbery|vandalize|vandalism|sabotage|swatting|trespass|animal cruelty|physical harm"
    "|cause harm|violent crime|commit a crime|set fire",
    "fraud": "fraud|scam|counterfeit|fake id|forge|forged|forgery|launder|money laundering"
    "|identity theft|ponzi|pyramid scheme|embezzle|insider trading|tax evasion|shoplift"
    "|bribe|extort|extortion|blackmail|fake reviews|stolen|credit card numbers|steal"
    "|skimmer|smuggle|smuggling|cheat|pirate|piracy|plagiarize|theft|thief|trafficking"
    "|traffick|brothel|human organs|pick a lock|breathalyzer|chop shop"
    "|manipulate stock|manipulate financial|market manipulation|copyrighted material"
    "|endangered species|ivory"
    "|fake accounts|false accusations",
    "hate_harassment": "racist|racism|slur|slurs|hate speech|harass|harassment|bully"
    "|bullying|cyberbully|humiliate|demean|dehumanize|inferior|threatening|threaten|dox|doxx"
    "|stalk|sexist|homophobic|antisemitic|xenophobic|defame|defamatory|insult"
    "|hate mail|inciting hatred|hatred toward|subhuman|racial superiority|discrimination"
    "|less intelligent|death threat|coerce|burden on|against women|particular group"
    "|specific group|minority groups",
    "misinformation": "fake news|misinformation|disinformation|propaganda|conspiracy|hoax"
    "|false claims|false information|fabricated|fake article|rumor|rumour|election fraud"
    "|persuasive article|persuasive post|deepfake|never happened|fake quote|mislead"
    "|misleads|misleading|scientific evidence|fake protest|cause autism|posing as",
    "sexual_content": "pornographic|porn|explicit sex|sexually explicit|erotic story"
    "|non consensual|nonconsensual|non-consensual|sextortion|revenge porn|nudes",
    "privacy": "social security number|medical records|home address|private information"
    "|personal data|without authorization|without their consent|without permission"
    "|location without|phone records|doxxing|surveillance|without their knowledge"
    "|user activity|confidential data|harvest sensitive|floor plan",
}
SIGNALS: dict[str, str] = {
    "evasion_intent": "without getting caught|without being caught|without detection"
    "|without being detected|without anyone knowing|without anyone finding out"
    "|without anyone noticing|without them knowing|without her knowing|without him knowing"
    "|nobody finds out|no one finds out|so nobody notices|leave no trace|without a trace"
    "|undetected|undetectable"
    "|untraceable|get away with|avoid detection|evade|evading|black market|dark web"
    "|cover up|hide evidence|destroy evidence|illegally|illegal|no one will know|anonymously",
}
# Words that carry intent when they meet an object (and the people harm is aimed at).
_ROLES: dict[str, str] = {
    "make": "make|build|create|manufacture|produce|synthesize|synthesise|cook|brew|grow"
    "|assemble|construct|prepare|mix|extract|refine|craft|develop|design|write|code"
    "|program|generate|3d print|homemade|home made|at home|diy|recipe for|culture"
    "|weaponize|enhance|modify",
    "acquire": "buy|obtain|acquire|get|purchase|order|source|smuggle|sell|distribute"
    "|traffic|deal|steal|hide|conceal|carry|sneak",
    "use": "use|deploy|plant|detonate|launch|spread|release|deliver|inject|install|infect"
    "|trigger|target|attack|lace|spike|slip|hack into|break into|gain access|commit"
    "|cause|encourage|promote|incite|persuade|convince",
    "harm": "kill|murder|hurt|harm|injure|poison|stab|shoot|strangle|torture|kidnap|abduct"
    "|assault|attack|beat up|maim|assassinate|rape|abuse|drown|suffocate|choke|burn|slaughter"
    "|threaten|blackmail|stalk|harass|humiliate|manipulate|groom|seduce|drug|spy on|track"
    "|slit|electrocute|blow up|run over|punch|kick|smother|set on fire|starve|cut"
    "|molest|exploit|intimidate|scald|disfigure|cripple|paralyze|sedate",
    "person": "someone|somebody|person|people|neighbor|neighbour|wife|husband|girlfriend"
    "|boyfriend|partner|ex|boss|coworker|colleague|classmate|teacher|student|family|man"
    "|woman|stranger|victim|him|her|president|politician|officer|cop|civilians|crowd"
    "|individual|human|humans|mother|father|mom|dad|roommate|friend|celebrity|journalist"
    "|jews|muslims|christians|immigrants|refugees|gay|transgender|women|minorities",
    "self": "myself|my life|my wrists|my body|my skin|my arms|my legs|i want to die|me die"
    "|yourself|your wrists|kill yourself|end it all|not wake up|binge|vomit|purge|throw up",
    "minor": "child|children|kid|kids|minor|minors|underage|teen|teens|teenager|preteen"
    "|boy|girl|toddler|infant|student|schoolgirl|schoolboy|year old|years old|13|14|12",
    "sexual": "sex|sexual|sexually|nude|nudes|naked|porn|pornographic|explicit|erotic"
    "|intimate|seduce|molest|fondle|penis|vagina|genitals|genitalia|dick|cock|pussy|boobs"
    "|breasts|undress|undressing|oral sex|orgasm|masturbate|erection|boner|aroused"
    "|romantic|private parts|sexy|lingerie",
    # chemical, biological, radiological and explosive agents: making one is never benign
    "hazard": "nerve agent|nerve gas|sarin|vx|tabun|soman|novichok|mustard gas|ricin|abrin"
    "|anthrax|botulinum|smallpox|plague|bioweapon|chemical weapon|biological weapon"
    "|nuclear weapon|dirty bomb|pipe bomb|nail bomb|explosive|explosives|tatp|nitroglycerin"
    "|chlorine gas|phosgene|poison gas|toxic gas|pathogen|uranium|plutonium|dimethylmercury",
    # content that takes a side: writing it for a harm object is the misinformation shape
    "stance": "persuasive|persuade|convincing|convince|claiming|claims that|arguing|argue that"
    "|suggesting that|proving|prove that|deny|denying|glorify|glorifying|mock|mocking"
    "|promote|promoting|encourage|encouraging|justify|justifying|defend the|praise|praising"
    "|make fun of|ridicule|propaganda|smear|fake|made up|made-up|false",
    "group": "jews|jewish|muslims|muslim|christians|immigrants|refugees|black people|blacks"
    "|white people|asians|asian people|mexicans|latinos|arabs|gay|gays|lesbians|transgender"
    "|trans people|women|men|disabled|disabled people|old people|elderly|poor people|indians"
    "|africans|chinese|gypsies|roma|minorities|minority|race|races|ethnic group|religion",
    "trait": "lazy|stupid|dumb|violent|dishonest|greedy|dirty|inferior|less intelligent"
    "|criminals|criminal|dangerous|evil|subhuman|animals|terrorists|parasites|worthless"
    "|bad at|can t be trusted|should not be allowed|shouldn t be allowed|don t deserve"
    "|not fit|ugly|disgusting|weak|so bad",
    "private": "home address|address of|where does|where do|lives|phone number|cell number"
    "|social security number|ssn|date of birth|bank details|bank account|password"
    "|passwords|medical records|medical history|medical condition|salary|location"
    "|whereabouts|private messages|emails|credit card|ip address of|browsing history",
    # asking for the means: with a self-harm word, the request for a method
    "method": "painless|painlessly|quickest|fastest|easiest|most effective|lethal|best way"
    "|surest|least painful|how many|how much|which pills|best place|quietly|for sure",
    "option": "b|c|d",  # answer letters: three or more make a multiple-choice question
    "instruct": "how|step|steps|instructions|instruction|guide|tutorial|explain|detailed"
    "|teach|show|ways|methods|plan|strategy|tips|list|provide|give|best way|easiest way",
}
_SAFE: dict[str, str] = {
    "programming": "python|process|processes|thread|java|linux|bash|docker|kubernetes|server"
    "|function|variable|git|terminal|command|database|api|node|container|pod|tmux|session"
    "|port|cpu|dataframe|pandas|loop|compile|debug|unit test|repository|branch|commit|query"
    "|powershell|windows|macos|ubuntu|browser|cache|program|job|task|daemon|zombie process"
    "|child process|child processes|mock|jest|pytest|sql|excel|spreadsheet|regex|json|html"
    "|css|react|app",
    "gaming": "game|games|video game|minecraft|fortnite|call of duty|gta|skyrim|zelda"
    "|pokemon|level|boss|npc|chess|board game|dungeons|dnd|league|quest|multiplayer|player"
    "|players|match|ps5|xbox|nintendo|rpg|character build|speedrun",
    "cooking": "recipe|cake|bake|baking|oven|chocolate|bread|sauce|kitchen|dough|egg|eggs"
    "|dinner|grill|marinade|flavor|flavour|cocktail|soup|steak|pasta|chef|dessert|sourdough"
    "|coconut|nut|nuts|lobster|crab|fish|vegetables|fruit|meal|roast|butcher|knife skills",
    "history": "history|historical|historically|world war|ww2|wwii|century|ancient|empire"
    "|hiroshima|nagasaki|treaty|revolution|historian|cold war|manhattan project|1945|1940s",
    "fiction": "novel|story|fiction|fictional|plot|scene|film|movie|book|author|poem"
    "|screenplay|villain|protagonist|fantasy|mystery|shakespeare|theme|chapter|literature"
    "|character|characters|thriller|essay on|analysis|analyze|analyse|symbolism",
    "medical": "doctor|dose|dosage|prescribed|prescription|mg|side effects|symptoms"
    "|treatment|medication|pharmacist|nurse|hospital|therapy|therapist|diagnosis|patient"
    "|clinical|ibuprofen|paracetamol|acetaminophen|vaccine|antibiotic",
    "safety": "protect|prevent|prevention|recognize|recognise|report|signs|warning signs"
    "|safely|safety|legal|legally|awareness|defend|spot|identify|support"
    "|avoid being|stay safe|dangers of|risks of|what is|what are|why do|why did"
    "|meaning of|definition|define|permission|authorized|my own|detect"
    "|how does|how do they|work|works|explain why|trust",
    # someone asking how to help, or for help: the words of a crisis, the stance of care
    "help_seeking": "what should i do|what can i do|how can i help|how do i help|help them"
    "|a friend who|my friend is|a friend tells me|friend told me|tells me they|worried about"
    "|talk to|hotline|helpline|crisis line|get help|seek help|therapist|counselor|cope"
    "|recover|recovery|support group|reach out|someone who is|thinking about suicide",
    "defensive": "log|logs|log file|alert|alerts|siem|incident|scanner|blocklist|block it"
    "|is this malicious|is this a known|should i block|is this safe|is this legit"
    "|mitigation|mitigate|mitigations|cheat sheet|owasp|best practices|code review"
    "|checklist|threat model|threat modeling|penetration test|penetration testing|hardening"
    "|vulnerability disclosure|countermeasure|countermeasures|defensive|security guidance",
    "victim": "was stolen|been stolen|got stolen|someone stole|stole my|was hacked"
    "|been hacked|got hacked|hacked my|scammed|report fraud|report it|dispute|lost my"
    "|fraudulent charge|unauthorized charge|freeze my|replacement card|block my card"
    "|reset my password|recover my account|i think someone|not me|wasn t me",
    "checking": "valid|validate|validity|validation|invalid|check whether|checksum|format"
    "|sample|example number|is this a real|is it real|test number|dummy|placeholder",
    "exam": "which of the following|true or false|multiple choice|is known as|is called"
    "|which is not|which statement|quiz|exam|question|answer|textbook|lecture|course",
    "everyday": "lose weight|recipe|workout|essay|homework|resume|travel|trip|vacation"
    "|budget|savings|retirement|mortgage|garden|plumbing|faucet|furniture|skyscraper|house"
    "|apartment|volume|speaker|speakers|music|playlist|weather|alarm|reminder|calendar"
    "|thanks|thank you|great|sounds good|that s good",
    "figurative": "time|steam|show|photo|photos|picture|weeds|weed|mosquito|mosquitoes|bug"
    "|bugs|pests|mice|rat|rats|cockroach|cockroaches|fly|flies|lights|mood|vibe|deadline"
    "|basketball|free throw|penalty|goal|traffic|hunger|thirst|pain|fire|light|engine",
}

DENSE_FEATURES: tuple[str, ...] = (
    *(f"obj:{name}" for name in CATEGORIES),
    *(f"act:{name}" for name in CATEGORIES),
    "evasion_intent",
    "harm_person",
    "harm_self",
    "minor_sexual",
    "make_hazard",
    "stance_harm",
    "demean_group",
    "private_person",
    "method_self_harm",
    "instruct",
    "person",
    "multiple_choice",
    *(f"safe:{name}" for name in _SAFE),
    "safe_any",
)
_ACT_WINDOW = 6  # tokens between a verb and its object
_PAIR_WINDOW = 5  # tokens between a harm verb and its target
_MINOR_WINDOW = 10
_SHORT = 48  # tokens: harmful requests are short


def tokens(lowered: str) -> list[str]:
    """The alphanumeric tokens of a lower-cased text."""
    return _TOKEN.findall(lowered)


def stem(word: str) -> str:
    """A crude, deterministic suffix stripper: "bombs", "bombing" → "bomb"."""
    if len(word) <= 4:
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            base = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                base += "y"
            break
    else:
        base = word
    return base[:-1] if len(base) > 4 and base.endswith("e") else base


def _phrase_key(phrase: str) -> str:
    return " ".join(stem(word) for word in tokens(phrase))


def _tag_table() -> dict[str, tuple[str, ...]]:
    groups: list[tuple[str, str]] = [
        *((f"obj:{name}", words) for name, words in CATEGORIES.items()),
        *SIGNALS.items(),
        *_ROLES.items(),
        *((f"safe:{name}", words) for name, words in _SAFE.items()),
    ]
    table: dict[str, list[str]] = {}
    for tag, words in groups:
        for phrase in words.split("|"):
            table.setdefault(_phrase_key(phrase), []).append(tag)
    return {key: tuple(dict.fromkeys(tags)) for key, tags in table.items()}


class Lexicon:
    """The tag table and the stem cache; built once, read-only afterwards except the cache."""

    def __init__(self) -> None:
        self._tags = _tag_table()
        sizes: dict[str, set[int]] = {}
        for key in self._tags:
            words = key.split(" ")
            if len(words) > 1:
                sizes.setdefault(words[0], set()).add(len(words))
        # phrase lengths to try after each stem that starts a phrase
        self._sizes = {word: tuple(sorted(found)) for word, found in sizes.items()}
        self._known = frozenset(self._tags) | frozenset(self._sizes)
        self._stem_cache: dict[str, str] = {}

    def stems(self, words: Sequence[str]) -> list[str]:
        cache = self._stem_cache
        out = list(map(cache.get, words))
        if None in out:
            if len(cache) > 200_000:
                cache.clear()  # bounded: a flood of unique tokens cannot grow it forever
            # stems are never empty, so "not" picks exactly the misses
            for index in compress(range(len(out)), map(not_, out)):
                word = words[index]
                out[index] = cache[word] = stem(word)
        return out  # type: ignore[return-value]  # every None was replaced

    def positions(self, stems: Sequence[str]) -> dict[str, list[int]]:
        """Token positions of every tag found in ``stems`` (phrases tagged at their start)."""
        found: dict[str, list[int]] = {}
        tags = self._tags
        sizes = self._sizes
        for index in compress(range(len(stems)), map(self._known.__contains__, stems)):
            word = stems[index]
            hits = tags.get(word, ())
            for size in sizes.get(word, ()):
                more = tags.get(" ".join(stems[index : index + size]))
                if more:
                    hits = (*hits, *more)
            for tag in hits:
                if tag in found:
                    found[tag].append(index)
                else:
                    found[tag] = [index]
        return found

    def analyse(self, lowered: str) -> tuple[list[str], dict[str, float]]:
        """The stems and dense features of a lower-cased text, as the detector reads it.

        A fill-in-the-blank ("____ is a program that steals logins") is exam form, as three
        answer letters are.
        """
        stems = self.stems(tokens(lowered))
        dense = self.features(self.positions(stems), len(stems))
        if "___" in lowered:
            dense["multiple_choice"] = max(dense.values(), default=1.0)
        return stems, dense

    def features(self, found: dict[str, list[int]], size: int = 0) -> dict[str, float]:
        """The dense features of one text of ``size`` tokens from its tag positions.

        Beyond ``_SHORT`` tokens a feature counts less (√ of the ratio): a long document
        meets alarming words by chance, a short request does not.
        """
        out = self._features(found)
        if size > _SHORT:
            factor = math.sqrt(_SHORT / size)
            return {name: value * factor for name, value in out.items()}
        return out

    def _features(self, found: dict[str, list[int]]) -> dict[str, float]:
        out: dict[str, float] = {}
        verbs = sorted({*found.get("make", ()), *found.get("acquire", ()), *found.get("use", ())})
        for name in CATEGORIES:
            objects = found.get(f"obj:{name}")
            if objects:
                out[f"obj:{name}"] = 1.0
                if _near(verbs, objects, _ACT_WINDOW) or _near(found.get("harm", ()), objects, 3):
                    out[f"act:{name}"] = 1.0
        harm = found.get("harm", ())
        if harm and _near(harm, found.get("person", ()), _PAIR_WINDOW):
            out["harm_person"] = 1.0
        if harm and _near(harm, found.get("self", ()), _PAIR_WINDOW):
            out["harm_self"] = 1.0
        out.update(_intent_features(found, verbs))
        minors = found.get("minor", ())
        if minors and _near(minors, found.get("sexual", ()), _MINOR_WINDOW):
            out["minor_sexual"] = 1.0
        if len(found.get("option", ())) >= 3:
            found = {**found, "safe:exam": [0]}
            out["multiple_choice"] = 1.0
        for tag in ("evasion_intent", "instruct", "person"):
            if tag in found:
                out[tag] = 1.0
        safe = [name for name in _SAFE if f"safe:{name}" in found]
        for name in safe:
            out[f"safe:{name}"] = 1.0
        if safe:
            out["safe_any"] = 1.0
        return out


def _intent_features(found: dict[str, list[int]], verbs: list[int]) -> dict[str, float]:
    """Intent meeting its object, across categories: making a hazardous agent, taking a
    side for a harm, a group next to a demeaning trait, a private fact about a person, a
    method asked for with a self-harm word."""
    out: dict[str, float] = {}
    if _near(verbs, found.get("hazard", ()), _ACT_WINDOW):
        out["make_hazard"] = 1.0
    objects = sorted(i for name in CATEGORIES for i in found.get(f"obj:{name}", ()))
    if _near(found.get("stance", ()), objects, _ACT_WINDOW + 2):
        out["stance_harm"] = 1.0
    if _near(found.get("group", ()), found.get("trait", ()), _PAIR_WINDOW):
        out["demean_group"] = 1.0
    selfharm = sorted({*found.get("obj:self_harm", ()), *found.get("self", ())})
    if _near(found.get("method", ()), selfharm, _ACT_WINDOW):
        out["method_self_harm"] = 1.0
    people = sorted({*found.get("person", ()), *found.get("group", ())})
    if _near(found.get("private", ()), people, _PAIR_WINDOW):
        out["private_person"] = 1.0
    return out


def _near(left: Sequence[int], right: Sequence[int], reach: int) -> bool:
    """Whether a position of ``left`` is within ``reach`` of one of ``right`` (both sorted)."""
    i = j = 0
    while i < len(left) and j < len(right):
        if abs(left[i] - right[j]) <= reach:
            return True
        if left[i] < right[j]:
            i += 1
        else:
            j += 1
    return False
