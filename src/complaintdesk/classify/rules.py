"""The emergency rule layer: never miss an emergency, whatever the model thinks.

Anything that endangers people or property *now* is ``emergency`` + ``critical``
(taxonomy tie-breaker), even when the model is unsure. The rules look for danger words
in Chinese and English, after masking harmless compounds that contain them (a fire
extinguisher, a smoke detector, a neighbour who smokes, the fire lane), and they stand
down when the danger is over ("the power was off last night", "已经扑灭了").

The rule layer wraps any classifier: :class:`RuledClassifier`.

Speed: every pattern runs behind a *prefilter*, a regex of the literal text that any of
its matches must contain (see :func:`prefilter`), and one prefilter over every danger
and "high" pattern settles most texts with a single scan. Prefilters only skip searches
that could not match, so they never change a decision.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, cast, runtime_checkable

from complaintdesk.classify.base import Classifier, Prediction
from complaintdesk.classify.features import MAX_CHARS, fold, normalise
from complaintdesk.domain.taxonomy import Category, Department, Nature, Urgency

RULE_CONFIDENCE = 0.9
"""Confidence the rule layer vouches for when it forces an emergency."""

# Harmless compounds masked before looking for danger words.
_SAFE = re.compile(
    r"灭火器|消防栓|消防门|消防通道|消防车道|消防水带|消防应急灯|应急灯|烟感|烟雾报警器|火灾报警器|报警器|抽烟|吸烟|烟味|烟头|烟花|香烟|"
    r"油烟|火锅|上火|火车|发火|火气|着急上火|充电桩|电火花塞|"
    r"fire (extinguisher|door|lane|escape|exit|hose|hydrant|alarm|safety|drill|brigade access)|"
    r"救命.{0,2}通道|生命通道|救命稻草|"
    r"smoke (detector|alarm)s?|smok(es|ing|er)|(they|people|he|she|who|neighbou?rs?|below|upstairs) smoke|cigarette|fireworks?|fired|"  # noqa: E501
    r"gas (bill|meter reading|fee|charge|price)|"
    r"trapped (wind|feeling)|falling (apart|behind)|fight(ing)? (for|with the) (management|company)"
    # Kept at home by a lift that is out, not shut in the lift (session 10, review): only
    # where the lift is named after it ("被困在家里了，电梯坏了三天"); without the lift,
    # someone shut in at home may be in danger ("孩子被困在家里，门打不开，里面有烟").
    r"|被?困在家(?:里|中)?(?=[^。！？!?.]{0,16}电梯)"
    # A danger word inside a longer, innocent word (session 14): 打架 in 打架子鼓 (playing
    # a drum kit), 人困 in 让人困扰, 带电 in 带电梯的房子, 漏电 in 漏电保护器 (the breaker),
    # 漏气 in a tyre, 打人 in 打人工客服, 砍人 in 砍人行道的树, 倒地 in 把垃圾倒地上, 救命
    # in 救命钱, 冒烟 in a dry throat, a heart condition named (有心脏病), not an attack.
    # A curated list, not jieba's segmentation: measured on the sets at hand, jieba puts
    # a true danger inside a longer word more often than an innocent one (倒地不起,
    # 水管爆裂, 浓烟滚滚, 打架斗殴: docs/classifier.md, session 14).
    r"|架子鼓|搭架子|人工|人家的?电话|人行道|人行横道|困扰|困惑|困难|困境|困倦|困意|犯困|发困|贫困|"
    r"带电(?:梯|瓶|动|脑|器|池|视)|漏电保护|漏电开关|漏电断路|防漏电|胎[^,.!?;]{0,4}?漏气|扎漏气?|气球漏气|"
    r"火花塞|擦出.{0,2}火花|火灾险|火灾保险|嗓子冒烟|喉咙冒烟|救命钱|天塌|"
    r"卡在电梯[里上内]?(?:刷|读|感应|识别|用不了|不能用|没法用)|"
    r"把(?:垃圾|污水|脏水|剩饭|剩菜|泔水|杂物|东西|水)[^,.!?;]{0,4}?倒地|"
    r"(?:有|患有?|得了)心脏病(?!(?:突然)?(?:发作|犯了))|心脏病(?:人|患者)"
)
# Someone "stuck" somewhere other than a lift, with no danger named (session 10, review):
# "stuck in traffic", "stuck at home". The model alone called some of these emergencies;
# where it does and the rules see no danger, it is asked again without emergency
# (searched only then: no cost on the other texts).
_STUCK_ELSEWHERE_ONLY = re.compile(
    r"stuck (?:in traffic|in a jam|at work|in (?:a|the) meeting|abroad|on holiday)|堵车|塞车|"
    r"堵在路上|"
    # Stuck at home only as kept there by the lift: "stuck at home, water is pouring in
    # and rising fast" is the model's to call.
    r"stuck (?:at home|indoors|in (?:my|our|the) (?:flat|apartment|home|house|room|bed))"
    r"(?=[^.!?]{0,40}\b(?:lift|elevator))|"
    r"\b(?:lift|elevator)[^.!?]{0,40}stuck (?:at home|indoors|in (?:my|our|the) "
    r"(?:flat|apartment|home|house|room|bed))"
)

# A person, as owners name one stuck in a lift ("my mother", "two kids", "someone").
_PERSON = (
    r"(?:i|we|he|she|they|someone|somebody|people|(?:my|our|his|her|their|a|an|the|two|three|"
    r"some)(?: (?:old|little|elderly|young|poor))? (?:mother|mum|mom|father|dad|son|daughter|"
    r"kids?|child(?:ren)?|baby|boy|girl|wife|husband|grand(?:ma|mother|pa|father|ad)|granny|"
    r"neighbou?rs?|residents?|tenants?|man|woman|men|women|lady|guy|family|parents?|brother|"
    r"sister|friends?|people|persons?|visitors?))"
)
# Someone stuck, with the lift named earlier in the sentence (session 9): "the lift
# broke down again and my mother was stuck for ten minutes". A person must be the one
# stuck: "the lift door gets stuck" is a fault, not a trapping. And stuck in the lift,
# not somewhere else: "people are stuck upstairs", "we are stuck with the bill" are not
# trappings; nor is anyone in a lift that has been out "for 3 days" or "since Monday"
# ("... and my elderly mother is stuck on the 20th floor"). "The lift stopped and my son
# is stuck on the 7th floor" stays one: unclear, so an emergency (recall first).
_STUCK_ELSEWHERE = (
    r"(?! (?:with\b|in traffic|at home|indoors|upstairs|downstairs|up there|outside|"
    r"in (?:the|my|our|his|her|their) (?:flat|apartment|home|house|room|bed)))"
)
# Out of service for a span (session 10, review: narrowed to the lift said to be out):
# "has been out for 3 days", "broken since Monday". A span alone is not an outage: "the
# lift has been making a noise for 3 days and now my mother is stuck" is a trapping.
_OUT_FOR_A_SPAN = (
    r"\b(?:out|down|broken|off|out of (?:order|service|action|use)|not working|stopped)\b"
    r".{0,12}?\b(?:for (?:\d+|a|an|two|three|four|five|six|several|many|a few) "
    r"(?:days?|weeks?|months?)|since (?:yesterday|last|the weekend|monday|tuesday|wednesday|"
    r"thursday|friday|saturday|sunday))"
)
_LIFT_STUCK = (
    r"(?:lift|lfit|elevator|elevater|elavator)s?\b(?:(?!"
    + _OUT_FOR_A_SPAN
    + r").){0,60}\b"
    + _PERSON
    + r" (?:was|were|is|are|got|gets|get|has been|have been|had been|been) stuck\b"
    + _STUCK_ELSEWHERE
)

# Present danger, by the department that acts first.
_DANGER_SECURITY = re.compile(
    r"着火|起火|失火|火灾|火苗|火势|烧起来|烧着了|着活了|着伙了|冒烟|浓烟|黑烟|全是烟|烟雾|"
    r"打架|打起来了|打起来啦|打起架来|打成一团|动手打|斗殴|持刀|拿着刀|拿刀|砍人|打人|行凶|撬门|撬锁|正在撬|有人入室|正在入室|闯入|尾随|可疑人|"
    r"挨家挨户.{0,6}(拧|推|撬|试)|拧门把手|"
    r"晕倒|昏倒|摔倒|跌倒|叫他没反应|叫她没反应|叫不醒|昏过去|昏迷|晕过去|倒地|不省人事|摔倒.{0,8}起不来|流血|出血|受伤|抽搐|心脏病|没有呼吸|"
    r"正在往下扔|往下扔.{0,8}(砸|差点)|砸到人|快掉下来|随时会掉|正在往下掉|坠落|倒塌|塌了|"
    r"\bfire\b|\bf(ier|yre|iar|rie)\b|on fire|flames|burning|smoke|smok(ey|y)\b|smoek|somke|"
    r"\bfight(ing)?\b|knife|stabb|attack|assault|intruder|break(ing)? in|trying to get in|trying (the )?(door ?)?handles|following (kids|children)|"  # noqa: E501
    r"collapsed|fainted|unconscious|not responding|not breathing|bleeding|injur|heart attack|seizure|"  # noqa: E501
    r"fallen .{0,20}can[' ]?t get up|about to fall|falling off|falling from|blow off|"
    r"throwing .{0,30}(missed|hit|nearly)|"
    # A structure coming down now (session 14): "the wall is coming down now".
    r"(?:wall|ceiling|roof|building|balcony|facade|cladding|scaffold(?:ing)?|sign|tree)s? "
    r"(?:is|are) (?:coming|falling) down\b|cav(?:ed|ing) in\b"
)
# A cry for help with no named danger: present danger, department left to the model.
_DANGER_GENERIC = re.compile(
    r"救命|报警了|打了?110|打了?120|打了?119|快来人啊|"
    r"\bhelp ?!|\bsos\b|call(ed)? (999|911|110|119|120)|ambulance|police"
)
_DANGER_ENGINEERING = re.compile(
    r"燃气味|煤气味|天然气味|然气味|煤汽味|燃汽味|漏气|燃气泄漏|煤气泄漏|燃气管道.{0,6}漏|"
    r"困人|困了人|困住人|困着人|人困|被困|困在|关在电梯|卡在电梯|电梯里出不来|关在里面|"
    r"电梯.{0,12}(里面有人|关着|困着)|关着.{0,3}(人|小孩|孩子|老人)|"
    r"冒火花|火花|漏电|被电(到|了|击|倒|伤)|触电|带电|爆管|水管爆|爆裂|水漫|淹了|车库进水|地下室进水|电梯井进水|进水了.{0,8}越来越|水越来越深|往电梯井|"
    r"gas+ (smel+|leak|lek)|smel+(s|ing)? (of )?gas|hissing|trap+e?d|"
    r"stu(c?k) in (the|a|an) (lift|lfit|elevator|elevater|elavator)|"
    r"stuck (inside|between floors)|people inside|with people in|sparking|sparks|live wire|it[' ]?s live|"  # noqa: E501
    r"\blive\b.{0,10}(cable|wire)|electric shock|burst|flooding|flooded|flod(ing|ed)|gushing|"
    # Last: someone stuck, the lift named earlier in the sentence (session 9).
    r"pouring into|" + _LIFT_STUCK
)
# The danger is over (an explicit end), or only in the past (time words, no present).
_OVER = re.compile(
    r"已经扑灭|已经灭了|火灭了|扑灭了|已经修好|修好了|已经处理|处理完了|已经救出|救出来了|已经出来了|水已经退|水退了|已经退了|"
    r"来电了|恢复了|已经走了|已经离开|人已经走|没事了|"
    r"\bit[' ]?s out\b|is out now|(has|have) been (sorted|fixed|repaired)|fixed it|"
    # The fire itself said to be out (session 10): "the fire has been out for an hour".
    # Not "out of control".
    r"\b(?:fire|flames?|blaze)\b[^,.;]{0,25}? (?:is|was|has been|have been|had been) "
    r"(?:put )?out\b(?! of)|"
    r"is gone|gone now|"
    r"has drained|drained|got out|were rescued|was rescued|back on now|all clear|no longer|"
    # Out of the lift (session 8): "后来自己出来了", "终于放出来了".
    r"(后来|终于|总算|自己|被人)(走|爬)?出来了|放出来了|救了出来|被救出"
)
# A danger named as a risk ("存在火灾隐患", "a fire hazard") is not one happening now.
_RISK = re.compile(
    r"隐患|万一|一旦|如果|假如|要是|风险|可能会|可能引发|可能造成|容易引发|容易发生|容易造成|容易出|"
    r"担心|担忧|害怕|就怕|说不定|以免|避免|防止|预防|要等|难道|不安全|安全问题|将会|将是|会导致|会引起|会造成|"
    r"出了.{0,6}怎么办|出事了?怎么办|发生.{0,6}怎么办|"
    r"hazard|\brisk\b|if there (is|was|were) a|in case|could (cause|start|happen)|"
    r"waiting to happen|"
    r"what if|worried|afraid|might (cause|start|fall|catch)|someday|one day|before someone|unsafe|"
    r"would (cause|start|be)|will (cause|start|lead)|"
    # Harm feared for the future (session 14): "随时可能掉下来", "迟早出事", "砸到人就晚了".
    r"随时可能|迟早|早晚会|哪天|就晚了|就来不及|容易(?:摔|滑|跌|绊)|差点(?:儿)?(?:摔|滑|跌|绊)"
)
# A structure, or a part of a building, falling (session 14): the danger words of a fall,
# the structures, and what makes one a standing hazard rather than a fall happening now.
# Fallen or loose over time, or harm feared for the future ("外墙瓷砖多处脱落，不要砸到
# 人", "tiles have been falling off for months, they could hit someone") is a hazard:
# `high` at most (docs/labelling.md rules 20 and 31). A fall just now or happening now
# ("刚才掉下来砸到人", "the ceiling just collapsed", "the wall is coming down now") is not.
_FALL = re.compile(
    r"砸到人|快掉下来|随时会掉|正在往下掉|坠落|倒塌|塌了|"
    r"collapsed|about to fall|falling off|falling from|blow off|coming down|falling down|"
    r"cav(?:ed|ing) in"
)
_STRUCTURE = re.compile(
    r"墙|瓷砖|墙砖|墙皮|天花|吊顶|屋顶|楼顶|顶棚|阳台|护栏|栏杆|窗|玻璃|广告牌|招牌|外机|雨棚|屋檐|"
    r"水泥|混凝土|石膏|脚手架|树|檐|板|"
    r"wall|ceiling|tile|roof|balcon|railing|window|glass|sign|facade|cladding|plaster|"
    r"concrete|render|gutter|scaffold|canopy|tree|brick|masonry|stone"
)
_STANDING = re.compile(
    r"多处|好几处|几处|多块|好几块|到处|大面积|陆续|不断|一直|经常|时常|长期|很久|好久|多年|早就|"
    r"几个月|半年|一年多|多次|老化|空鼓|年久失修|"
    r"for (?:weeks|months|years|a long time|ages|some time)|over (?:time|the years)|"
    r"(?:keeps?|kept) (?:falling|coming)|(?:have|has) been (?:falling|coming|loose|crumbling)|"
    r"in (?:several|many|a few|multiple) places|all over|again and again|repeatedly"
)
_FEARED = re.compile(
    r"(?:不要|别|千万别|免得|省得|以防|可能|迟早|早晚|哪天|随时可能)(?:会|再|又)?(?:砸|伤|掉|落|倒|塌)|"
    r"会(?:砸|伤)到?人|(?:砸|伤)到人?.{0,3}谁(?:来)?负责|"
    r"(?:could|might|may|will) (?:fall|hit|hurt|injure|kill|collapse|come down|land)|"
    r"(?:someone|somebody|anyone|people) (?:will|could|might|may) (?:get|be) "
    r"(?:hurt|hit|injured|killed)|until someone|before (?:anyone|somebody|it falls|they fall)"
)
_JUST = re.compile(r"刚才|刚刚|正在|突然|\bjust\b|right now|\bnow\b|at the moment")
# In a long letter, a danger that happens again and again is a standing problem, not an
# incident now. (Not in a short message: "打了多次电话，人还困在电梯里" is happening now.)
_HABIT = re.compile(
    r"经常|常常|时常|多次|屡次|几次|\d+次|几十起|\d+起|多起|几起|频繁|动不动|总是|老是|每次|每到|"
    r"often|frequently|every time|regularly|repeatedly|several times|keeps? (happening|getting)"
)
_PAST = re.compile(
    r"昨晚|昨天|前天|上周|上星期|上个月|上次|之前|去年|前年|那天|前几天|曾经|曾|以前|过去的|过去几|当时|那次|到目前为止|至今|迄今|"
    r"发生过|出现过|有过|\d{4}年|\d{1,2}月\d{1,2}[日号]|\d+(天|个月|周|年)前|"
    r"last (night|week|month|year|time)|yesterday|the other day|ago|on (monday|tuesday|wednesday|"
    r"thursday|friday|saturday|sunday)( night)?|since the|earlier this"
)
# A spell in a lift told as over (session 8): "my mother was stuck in the lift for ten
# minutes", "我妈刚才在电梯里被困了十分钟". Not "has been stuck for 20 minutes", nor
# "困了十分钟了还没人来": those are happening now. Past only for someone shut in a lift
# (:func:`_spell_over`): "the kitchen was on fire for ten minutes" is not over.
_SPELL = re.compile(
    r"\b(was|were)\b.{0,40}\bfor (\d+|a few|a couple of|ten|fifteen|twenty|thirty|forty|half an) ?"
    r"(minutes?|mins?|hours?)\b|"
    r"刚才.{0,12}困.{0,12}([一二两三四五六七八九十几半]+|\d+)(分钟|个?小时|钟头)"
)
# Help has not come (the reviewer's case, session 8): "was trapped in the lift for 20
# minutes and nobody has come yet", "刚才被困了十分钟还没人来". Told so, the spell in
# the lift may not have ended: it is not taken as over (:func:`_spell_over`).
_WAITING = re.compile(
    r"还?没(有)?人(来|管|理)|至今没人|还没(有)?(人)?(来|到)|一直没(有)?人|"
    r"\b(nobody|no one|no-one|noone)\b.{0,12}\b(has|have|had)?\s?"
    r"(come|came|arrived|turned up|shown up|showed up|answered|responded|helped)|"
    r"still (waiting|no one|nobody)|not (yet )?(been )?(rescued|let out|freed)|"
    r"no one is coming|nobody is coming"
)
_PRESENT = re.compile(
    r"正在|还在|现在|此刻|仍然|依然|越来越|马上|赶紧|快来|right now|still (there|burning|smoking|trapped|stuck|"  # noqa: E501
    r"leaking|pouring|sparking)|at the moment|is happening|hurry|come quickly|send someone now|now!"
)

# The taxonomy's "high": basic living disrupted or damage spreading, now.
_HIGH = re.compile(
    r"停水|没水|没有水|停电|没电|电梯.{0,6}(坏|停|不动|不能用|故障|停运)|正在漏|往下滴|一直在滴|在漏水|漏到我家|"
    r"反水|冒污水|下水.{0,4}堵|被盗|被撬|"
    r"no (running )?water|water (is |has been )?(off|cut)|no power|power cut|no electricity|"
    r"(lift|elevator)s? (is |are )?(down|broken|out of (order|service)|not working|stopped)|"
    # Out of service for a while (session 10, review): "the lift has been out for 3 days",
    # "the lifts have been broken since Monday"; the lift itself, not "the light in the
    # lift has been out" (a lamp), nor "had been" (over).
    r"(?<!in the )(?<!in our )(?<!of the )(?:lift|elevator)"
    r"(?: (?:in|of|at) (?:block|tower|building|unit|no\.?) ?\w{1,4})? has been "
    r"(?:out|down|broken|out of (?:order|service|action)|not working|stopped)\b|"
    r"(?<!in the )(?<!in our )(?<!of the )(?:lift|elevator)s"
    r"(?: (?:in|of|at) (?:block|tower|building|unit|no\.?) ?\w{1,4})? have been "
    r"(?:out|down|broken|out of (?:order|service|action)|not working|stopped)\b|"
    r"leaking into|dripping from|through (the|our) ceiling|sewage|backing up|broken into|burgl|break-in|"  # noqa: E501
    # A lift that broke down (session 9): "the lift in block 2 broke down again".
    r"(?:lift|lfit|elevator|elevater|elavator)s?\b.{0,30}\b(?:broke|broken|breaks) down"
)


# Someone shut in a lift (the engineering danger's trapping words). Told as over, not as
# a risk, and with no earlier day named, in a short message, it is the taxonomy's
# "high": a lift that has just trapped someone (session 8; docs/labelling.md rule 31).
# "Yesterday" or "last week" keeps it "normal", as the generated tie-breakers say.
_TRAP = re.compile(
    r"困人|困了人|困住人|困着人|人困|被困|困在|关在电梯|卡在电梯|电梯里出不来|关在里面|"
    r"电梯.{0,12}(里面有人|关着|困着)|trap+e?d|"
    r"stu(c?k) in (the|a|an) (lift|lfit|elevator|elevater|elavator)|stuck (inside|between floors)|"
    + _LIFT_STUCK
)

# Fire and smoke are security's even when a cable or gas is also named.
_FIRE_OR_SMOKE = re.compile(r"着火|起火|火灾|冒烟|浓烟|fire|smoke|flames")


# --- prefilters ----------------------------------------------------------------------
#
# Python's ``re`` tries the branches of a long alternation one after another at each
# position of the text: the danger pattern alone cost about 12 us per text, a third of
# what the whole model costs. But every branch needs some literal text to match: "着火", "fire",
# "电梯" for "电梯.{0,6}(坏|停|…)", "lift" or "elevator" for "(lift|elevator)s? (is )?down".
# A regex of those literals laid out as a trie (one branch per first character) scans
# several times faster, and the full pattern then runs only on the few texts where it
# matched. The literals are read from the pattern's own parse tree, so they cannot drift
# from the pattern.


def _parser() -> Any:
    """CPython's regex parser (``re._parser``), or None where it is not available."""
    try:
        return importlib.import_module("re._parser")
    except ImportError:
        return None


def _required(items: Any, sre: Any) -> set[str] | None:
    """A set of literal strings such that every match of the parsed regex ``items``
    contains at least one of them (the most selective such set found), or None.
    ``sre`` is the parser module, which also holds the opcodes."""
    candidates: list[set[str]] = []
    run: list[str] = []
    for op, av in items:
        if op is sre.LITERAL:
            run.append(chr(av))
            continue
        if run:
            candidates.append({"".join(run)})
            run = []
        found: set[str] | None = None
        if op is sre.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if not add_flags and not del_flags:
                found = _required(sub, sre)
        elif op is sre.BRANCH:
            found = set()
            for alternative in av[1]:
                part = _required(alternative, sre)
                if part is None:
                    found = None
                    break
                found |= part
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and av[0] >= 1:
            found = _required(av[2], sre)
        # Anything else (classes, ".", "\\b", optional parts, look-arounds) is not a
        # required literal; skipping it only makes the prefilter let more texts through.
        if found:
            candidates.append(found)
    if run:
        candidates.append({"".join(run)})
    if not candidates:
        return None
    return max(candidates, key=lambda s: (min(map(len, s)), -len(s)))


def _trie(words: Sequence[str]) -> str:
    """A regex matching any of ``words``, as a trie: ``(?:f(?:ire|lames)|s(?:moke|parks))``."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        if "" in node:  # a word ends here: its longer extensions add nothing to a search
            return ""
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items())]
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return emit(root)


def literals(*patterns: re.Pattern[str]) -> list[str] | None:
    """The literals one of which every match of any of ``patterns`` contains (none of
    them containing another), or None when some branch has no such literal."""
    sre = _parser()
    if sre is None:
        return None
    found: set[str] = set()
    for pattern in patterns:
        if pattern.flags & re.IGNORECASE:
            return None
        try:
            part = _required(sre.parse(pattern.pattern, pattern.flags), sre)
        except Exception:  # a parser that changed shape: run the full pattern instead
            return None
        if not part:
            return None
        found |= part
    kept: list[str] = []
    for word in sorted(found, key=lambda w: (len(w), w)):
        if not any(k in word for k in kept):
            kept.append(word)
    return kept


def prefilter(*patterns: re.Pattern[str]) -> re.Pattern[str] | None:
    """A regex that matches some text wherever any of ``patterns`` matches it (and
    elsewhere too), and is fast to search; None when no such regex is known. Only
    whether it matches says anything: where it matches is not where a pattern would
    (see :func:`_anchored`)."""
    words = literals(*patterns)
    return re.compile(_anchored(words)) if words else None


FREQUENT = (
    " etaonirshldcupmygwfbk了人v一的下不!是1电没楼好业?在我来有2x上水理物请处个0你里8么3们5家"
    "都到7能修管道次天快直问梯小望门谢6烦车麻住安还几打吗尽经得回说地这投诉区复希主看被怎单户话元9"
    "时多现老费栋再太大反年已什保前气停过辛苦就qj派事也库帮忙排子开周漏想交全要很坏花墙房重火本映报4"
)
"""Characters in the order of their frequency in complaints (the generated corpus,
20,000 examples, seed 777, normalised), most frequent first. :func:`_anchored` finds a
word by its rarest character; a character not listed counts as rarer than any listed.
Only the speed of a search depends on this list, never what it finds."""
_RANK = {ch: i for i, ch in enumerate(FREQUENT)}


def _anchored(words: Sequence[str]) -> str:
    """A regex that matches a text exactly when one of ``words`` occurs in it, found by
    each word's rarest character (its *anchor*, :data:`FREQUENT`): the part of the
    word before the anchor is checked by a look-behind, the part after is matched.

    A trie of the words (:func:`_trie`) starts a try at every character that begins a
    word: in English text nearly every letter does ("a" for "assault", "t" for
    "trapped"), and each try walks the trie's top alternation. Python's ``re`` skips
    the characters that cannot start a match with a fast set test, and the anchors are
    a much smaller set than the first letters: the search is about twice as fast on
    the texts at hand. The match found starts at an anchor, not at the word's start:
    only whether it matches may be used."""
    groups: dict[str, set[tuple[str, str]]] = {}
    for word in words:
        k = max(range(len(word)), key=lambda i: (_RANK.get(word[i], len(_RANK)), -i))
        groups.setdefault(word[k], set()).add((word[:k], word[k + 1 :]))
    branches: list[str] = []
    for anchor in sorted(groups):
        tails = []
        for before, after in sorted(groups[anchor]):
            behind = f"(?<={re.escape(before + anchor)})" if before else ""
            tails.append(behind + re.escape(after))
        if "" in tails:  # the anchor alone is a word: anything longer adds nothing
            branches.append(re.escape(anchor))
        elif len(tails) == 1:
            branches.append(re.escape(anchor) + tails[0])
        else:
            branches.append(re.escape(anchor) + "(?:" + "|".join(tails) + ")")
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


def _top_branches(source: str) -> list[str]:
    """The top-level alternatives of a regex's source ("a|b(c|d)|e" -> a, b(c|d), e)."""
    out: list[str] = []
    depth = 0
    in_class = False
    start = 0
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if source[i + 1 : i + 2] == "]":  # "[]...]": the first ] is a member
                i += 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            out.append(source[start:i])
            start = i + 1
        i += 1
    out.append(source[start:])
    return out


def _literal(branch: str) -> str | None:
    """The text a regex branch matches when it is a plain literal, else None."""
    sre = _parser()
    if sre is None:
        return None
    try:
        items = list(sre.parse(branch))
    except Exception:
        return None
    if not items or any(op is not sre.LITERAL for op, _ in items):
        return None
    return "".join(chr(av) for _, av in items)


def split_literals(
    pattern: re.Pattern[str],
) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
    """``pattern`` as two regexes: its plain-literal top-level branches as a trie
    ("着火|起火|burning": most of a danger pattern), and the other branches. A match
    of either is a match of ``pattern``, and the leftmost of the two starts where
    ``pattern``'s own search match starts. (None, None) when it cannot be split."""
    if pattern.flags & ~(re.UNICODE):
        return None, None
    branches = _top_branches(pattern.pattern)
    words = [w for w in (_literal(b) for b in branches) if w]
    if len(branches) < 2 or len(words) < 2:
        return None, None
    rest = [b for b in branches if not _literal(b)]
    return re.compile(_trie(words)), (re.compile("|".join(rest)) if rest else None)


class _Rule:
    """A pattern behind its prefilter: the same ``search``/``sub`` results, faster.

    A long alternation of literals ("着火|起火|…|burning") is searched as a trie, and
    only its other branches as a regex: Python's ``re`` tries the branches of an
    alternation one after another at each position, a trie one character at a time.
    ``search`` then returns the leftmost of the two matches: it starts where the full
    pattern's match starts (its end and groups may differ; the rules use only the start).
    """

    __slots__ = ("lit", "pattern", "pre", "rest", "rest_pre")

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.pre = prefilter(pattern)
        self.lit, self.rest = split_literals(pattern)
        self.rest_pre = prefilter(self.rest) if self.rest is not None else None

    def search(self, text: str) -> re.Match[str] | None:
        if self.pre is None:
            return self.pattern.search(text)
        if self.pre.search(text) is None:
            return None
        if self.lit is None:
            return self.pattern.search(text)
        a = self.lit.search(text)
        rest = self.rest
        if rest is None or (self.rest_pre is not None and self.rest_pre.search(text) is None):
            return a
        b = rest.search(text)
        if b is None or (a is not None and a.start() <= b.start()):
            return a
        return b

    def subn(self, repl: str, text: str) -> tuple[str, int]:
        if self.pre is not None and self.pre.search(text) is None:
            return text, 0
        return self.pattern.subn(repl, text)


_R_SAFE = _Rule(_SAFE)
_R_SECURITY = _Rule(_DANGER_SECURITY)
_R_ENGINEERING = _Rule(_DANGER_ENGINEERING)
_R_GENERIC = _Rule(_DANGER_GENERIC)
_R_OVER = _Rule(_OVER)
_R_RISK = _Rule(_RISK)
_R_HABIT = _Rule(_HABIT)
_R_PAST = _Rule(_PAST)
_R_SPELL = _Rule(_SPELL)
_R_WAITING = _Rule(_WAITING)
_R_PRESENT = _Rule(_PRESENT)
_R_HIGH = _Rule(_HIGH)
_R_FIRE_OR_SMOKE = _Rule(_FIRE_OR_SMOKE)
_R_TRAP = _Rule(_TRAP)
_R_STUCK_ELSEWHERE_ONLY = _Rule(_STUCK_ELSEWHERE_ONLY)
_R_FALL = _Rule(_FALL)
_R_STRUCTURE = _Rule(_STRUCTURE)
_R_STANDING = _Rule(_STANDING)
_R_FEARED = _Rule(_FEARED)
_R_JUST = _Rule(_JUST)
# A day before today (a subset of _PAST: not "刚才", "was ... for ten minutes").
_R_EARLIER_DAY = _Rule(
    re.compile(
        r"昨晚|昨天|前天|上周|上星期|上个月|上次|去年|前年|那天|前几天|\d{4}年|\d{1,2}月\d{1,2}[日号]|"
        r"\d+(天|个月|周|年)前|last (night|week|month|year|time)|yesterday|the other day|\bago\b|"
        r"on (monday|tuesday|wednesday|thursday|friday|saturday|sunday)|since the|earlier this"
    )
)
# A letter's title says its danger is happening now (see LEAD).
_R_URGENT = _Rule(re.compile(r"紧急|急|救命|快|!|urgent|emergency|asap|\bnow\b"))

# One scan for every trigger: a text it does not match has no danger and no "high".
_TRIGGER = prefilter(_DANGER_SECURITY, _DANGER_ENGINEERING, _DANGER_GENERIC, _HIGH)


@dataclass(frozen=True)
class Danger:
    """What the rules found in one text."""

    present: bool
    department: Department | None
    over: bool


NO_DANGER = Danger(False, None, False)
HARMLESS = Danger(False, None, True)
"""Danger words only inside harmless compounds (a fire extinguisher, a smoke alarm): no
danger, and none for the model to see either."""
MODEL_EMERGENCY = 0.5
"""With no danger found by the rules, the model's own "emergency" stands only at this
category confidence or above; a weaker call (or "critical" alone) is taken back."""

LONG = 200
"""A text whose normalised form is longer than this is a letter, not a message."""
LEAD = 150
"""In a letter, only the sentences that start in its first LEAD characters (the
opening) can raise a danger; in a letter with a title line, only the title can, and
only when it says the danger is happening now ("紧急", "正在", "快来", "right now", "!").
A danger mentioned in passing further down, in a petition about fees, is background:
owners in danger now do not write letters."""
MAX_TITLE = 100
"""A first line this short, followed by more text, is a title."""

SENTENCE_END_PLAIN = r"[。！？!?；;\n\r]+|\.(?=\s|$)|…+|\.{3,}"
"""Where a sentence ends: a run of 。！？!?；; or line ends, a full stop followed by a
space or the end, a run of …, or three full stops or more."""
_SENTENCE_END = re.compile(
    r"[。！？!?；;\n\r….]"
    r"(?:(?<=[。！？!?；;\n\r])[。！？!?；;\n\r]*|(?<=…)…*|(?<=\.)(?:(?=\s|$)|\.\.+))"
)
""":data:`SENTENCE_END_PLAIN`, the same matches (tested), written to start with one
character set: Python's ``re`` then skips every other character with a fast set test
instead of trying four alternatives at each (about 5 times faster on the texts at hand)."""


def _sentences(text: str) -> list[tuple[int, str]]:
    """The normalised sentences of a raw text (the title is the first line), with the
    offset where each starts.

    The text is folded (NFKC, lower case, punctuation) once, and each sentence is cut
    from the folded text: the same as normalising each sentence on its own whenever
    folding keeps every character in its place (the same length) and no letter's lower
    case depends on its neighbours (only a capital sigma's does), which is checked;
    otherwise each sentence is normalised on its own (tested on every text at hand)."""
    out: list[tuple[int, str]] = []
    start = 0
    head = text[:MAX_RAW]
    folded = fold(head)
    if len(folded) != len(head) or "\u03a3" in head:
        # A character folded into more or fewer (a ligature, a combining accent), or a
        # capital sigma (lower case depends on what follows it): sentence by sentence.
        return _sentences_slow(head)
    for m in _SENTENCE_END.finditer(head):
        part = " ".join(folded[start : m.start()].split())[:MAX_CHARS]
        if part:
            out.append((start, part))
        start = m.end()
    part = " ".join(folded[start:].split())[:MAX_CHARS]
    if part:
        out.append((start, part))
    return out


def _sentences_slow(head: str) -> list[tuple[int, str]]:
    """:func:`_sentences`, normalising each sentence on its own."""
    out: list[tuple[int, str]] = []
    start = 0
    for m in _SENTENCE_END.finditer(head):
        part = normalise(head[start : m.start()])
        if part:
            out.append((start, part))
        start = m.end()
    part = normalise(head[start:])
    if part:
        out.append((start, part))
    return out


MAX_RAW = 4000
"""Raw characters read for sentences (the model reads the first 2,000 normalised)."""


def assess(text: str) -> Danger:
    """Whether ``text`` reports a danger happening now, and who acts first on it."""
    return assess_text(text, normalise(text))[0]


def is_high_now(text: str) -> bool:
    """Whether ``text`` names one of the taxonomy's "high" situations as happening now."""
    return assess_text(text, normalise(text))[1]


def assess_text(text: str, norm: str) -> tuple[Danger, bool]:
    """The danger a raw ``text`` (normalised: ``norm``) reports, and whether it names a
    taxonomy "high" situation happening now, judged sentence by sentence.

    A short text of one sentence is judged whole. Otherwise each sentence is judged
    with its own time words (a past word in the sentence before carries over unless
    this one says "now"), an explicit end later in the text stands the danger down, and
    in a long letter only the opening counts (only the title, saying "now" or
    "urgent", when it has one); a danger told as happening again and again (经常, 多次,
    "often") is a standing problem.
    """
    long = len(norm) > LONG
    if not long and _SENTENCE_END.search(text[:MAX_RAW]) is None:
        d = _assess(norm)
        return d, _high_now(norm) or _trapped_before(norm, d)
    parts = _sentences(text)
    cut = text.find("\n", 0, MAX_TITLE + 1)
    titled = long and cut > 0 and bool(text[cut:].strip())
    danger = NO_DANGER
    found: list[Danger] = []
    high = False
    previous = ""
    for i, (start, sentence) in enumerate(parts):
        if long:
            if start >= LEAD or (titled and i > 0):
                break
            sentence = sentence[: LEAD - start]  # a long sentence counts up to LEAD only
        if _TRIGGER is not None and _TRIGGER.search(sentence) is None:
            # No danger, cry for help or "high" word in this sentence: nothing to judge
            # (one scan instead of one per pattern; most sentences end here).
            previous = sentence
            continue
        later = " ".join(p for _, p in parts[i + 1 : i + 2 if long else len(parts)])
        d = _assess(sentence, previous, long, later, first=i == 0, titled=titled)
        if d is not NO_DANGER:
            found.append(d)
        if not high and (_high_now(sentence) or (not long and _trapped_before(sentence, d))):
            high = True
        previous = sentence
    present = [d for d in found if d.present]
    if present:
        department = present[0].department
        if any(d.department is Department.SECURITY for d in present) and any(
            _R_FIRE_OR_SMOKE.search(s) for _, s in parts
        ):
            department = Department.SECURITY
        if department is None:  # a bare cry for help, and a named danger elsewhere
            department = next((d.department for d in present if d.department), None)
        danger = Danger(True, department, False)
    elif found:
        danger = Danger(False, found[0].department, True)
    return danger, high


def _assess(
    t: str,
    previous: str = "",
    long: bool = False,
    later: str = "",
    first: bool = True,
    titled: bool = False,
) -> Danger:
    """One sentence (or a whole short text) ``t``, normalised; ``previous`` is the
    sentence before, ``later`` the text after (for an explicit end)."""
    sec = _R_SECURITY.search(t)
    eng = _R_ENGINEERING.search(t)
    if sec or eng:  # mask harmless compounds only when a danger word was seen (speed)
        t, masked = _R_SAFE.subn(" ", t)
        if masked:  # else the text is unchanged, and so are the matches
            sec = _R_SECURITY.search(t)
            eng = _R_ENGINEERING.search(t)
            if not sec and not eng and not _R_GENERIC.search(t):
                return HARMLESS  # only "fire extinguisher", "smoke alarm", ...
        # An English danger word must start a word: "burst" not in "outburst", "attack"
        # not in "counterattack" (session 14).
        if sec is not None and _inside_latin_word(t, sec):
            sec = _next_at_word(_DANGER_SECURITY, t, sec)
        if eng is not None and _inside_latin_word(t, eng):
            eng = _next_at_word(_DANGER_ENGINEERING, t, eng)
        if not sec and not eng and not _R_GENERIC.search(t):
            return HARMLESS
    if not sec and not eng:
        generic = _R_GENERIC.search(t) is not None
        if generic:
            unmasked, masked = _R_SAFE.subn(" ", t)
            if masked and _R_GENERIC.search(unmasked) is None:
                return HARMLESS  # a cry for help only inside a harmless word: 救命钱, 救命通道
        if generic and not _R_OVER.search(t) and not (later and _R_OVER.search(later)):
            if (_R_PAST.search(t) and not _R_PRESENT.search(t)) or (long and not first):
                return NO_DANGER  # "也曾打110报警": a call told of in a letter
            return Danger(True, None, False)
        return NO_DANGER
    now = bool(_R_PRESENT.search(t))
    if titled and not (now or _R_URGENT.search(t)):
        # A letter's title that names a danger without saying it is happening now
        # tells of an incident, not a call for help.
        return Danger(False, None, True)
    over = (
        bool(_R_OVER.search(t))
        or bool(later and _R_OVER.search(later))
        or bool(_R_RISK.search(t))
        or bool(long and _R_HABIT.search(t))
        or _habitual(t, sec or eng)
        or (not now and bool(_R_PAST.search(t) or (previous and _R_PAST.search(previous))))
        or (not now and _spell_over(t))
        or _standing_fall(t, previous, sec, eng)
    )
    if sec and eng:
        department = Department.SECURITY if sec.start() <= eng.start() else Department.ENGINEERING
        # Fire and smoke are security's even when a cable or gas is also named.
        if _R_FIRE_OR_SMOKE.search(t):
            department = Department.SECURITY
    else:
        department = Department.SECURITY if sec else Department.ENGINEERING
    return Danger(not over, department, over)


def _inside_latin_word(t: str, m: re.Match[str]) -> bool:
    """Whether a match starts inside a Latin word ("burst" in "outburst")."""
    s = m.start()
    return s > 0 and "a" <= t[s] <= "z" and "a" <= t[s - 1] <= "z"


def _next_at_word(
    pattern: re.Pattern[str], t: str, m: re.Match[str] | None
) -> re.Match[str] | None:
    """The first match of ``pattern`` from ``m`` on that does not start inside a Latin
    word (searched again only on the rare texts where one did)."""
    while m is not None and _inside_latin_word(t, m):
        m = pattern.search(t, m.start() + 1)
    return m


def _standing_fall(
    t: str, previous: str, sec: re.Match[str] | None, eng: re.Match[str] | None
) -> bool:
    """A structure or a part of a building fallen or loose over time ("外墙瓷砖多处脱落"),
    or harm from its fall feared for the future ("不要砸到人", "could fall on someone"),
    with nothing falling just now or now (刚才, 正在, "just", "now"): a standing hazard,
    not an emergency (docs/labelling.md rules 20 and 31). Only when the fall is the
    sentence's only danger: a fire or a gas leak beside it is not stood down with it."""
    if sec is None or eng is not None:
        return False
    fall = _R_FALL.search(t)
    if fall is None:
        return False
    if not (_R_STRUCTURE.search(t) or (previous and _R_STRUCTURE.search(previous))):
        return False
    if _R_JUST.search(t):
        return False
    # Over time: said of the fall itself, in its clause or the one before ("外墙瓷砖多处脱落，
    # 随时会掉下来"), not anywhere ("入住五年了，一直挺满意，但是最近阳台护栏松了，随时会掉下去"
    # is a railing about to fall now). Normalised Chinese has a space where a comma was;
    # in English, 40 characters either side.
    if fall.group()[0] >= "\u3400":
        before = t.rfind(" ", 0, fall.start())
        lo = t.rfind(" ", 0, before) + 1 if before > 0 else 0
        hi = t.find(" ", fall.end())
        clause = t[lo : hi if hi >= 0 else len(t)]
    else:
        clause = t[max(0, fall.start() - 40) : fall.end() + 40]
    if not (_R_FEARED.search(t) or _R_STANDING.search(clause)):
        return False
    return _DANGER_SECURITY.search(_FALL.sub(" ", t)) is None


def _habitual(t: str, match: re.Match[str] | None) -> bool:
    """A danger told as happening again and again, right before its words ("发生多次
    陌生人撬门", "keeps catching fire"): a standing problem, whatever the length."""
    if match is None:
        return False
    return bool(_R_HABIT.search(t[max(0, match.start() - 8) : match.start()]))


def _spell_over(t: str) -> bool:
    """Someone shut in a lift, told as a spell that ended ("was stuck ... for ten
    minutes"): over, unless help is said not to have come ("... and nobody has come
    yet"). Only for a lift: a fire, smoke or a break-in told so may still be going on."""
    return bool(_R_SPELL.search(t) and _R_TRAP.search(t) and not _R_WAITING.search(t))


def _trapped_before(t: str, d: Danger) -> bool:
    """Someone was shut in a lift and is out (the danger is over, not a risk, and no
    earlier day is named): not an emergency, but the lift has just trapped someone, so
    at least "high"."""
    return (
        d.over
        and not d.present
        and bool(_R_TRAP.search(t))
        and not _R_RISK.search(t)
        and not _R_EARLIER_DAY.search(t)
    )


def _high_now(t: str) -> bool:
    """:func:`is_high_now` on one normalised sentence (or a whole short text)."""
    if not _R_HIGH.search(t):
        return False
    return not (_R_OVER.search(t) or (_R_PAST.search(t) and not _R_PRESENT.search(t)))


def apply(pred: Prediction, danger: Danger, high: bool = False) -> Prediction:
    """The taxonomy's emergency rules (and its list of "high" situations) over one
    model prediction."""
    emergency = (
        danger.present or pred.category is Category.EMERGENCY or pred.urgency is Urgency.CRITICAL
    )
    if not emergency:
        if high and pred.urgency is Urgency.NORMAL and pred.nature is not Nature.CONSULTING:
            conf = {**pred.confidence, "urgency": max(pred.confidence.get("urgency", 0.0), 0.8)}
            # Prediction.of: the object replace() makes, without a frozen __init__.
            return Prediction.of(
                pred.nature, pred.category, Urgency.HIGH, pred.department, conf, pred.model_version
            )
        return pred
    conf = dict(pred.confidence)
    department = pred.department
    if danger.present and danger.department is not None:
        department = danger.department
    elif department not in (Department.ENGINEERING, Department.SECURITY):
        department = danger.department or Department.SECURITY
    if danger.present and danger.department is None:  # a bare cry for help
        conf["department"] = min(conf.get("department", 0.0), 0.5)
    if danger.present:
        for name in ("category", "urgency", "department"):
            conf[name] = max(conf.get(name, 0.0), RULE_CONFIDENCE)
    if pred.category is not Category.EMERGENCY and not danger.present:
        conf["category"] = min(conf.get("category", 0.0), 0.5)  # model split: review it
    nature = pred.nature
    if nature is Nature.CONSULTING:
        nature = Nature.HELP_SEEKING
    return Prediction.of(
        nature, Category.EMERGENCY, Urgency.CRITICAL, department, conf, pred.model_version
    )


_CHUNK = 4096
"""Texts normalised at a time (bounds the memory of a very long batch)."""


@runtime_checkable
class TakesNormalised(Protocol):
    """A classifier that can take texts already through :func:`features.normalise`
    (:class:`~complaintdesk.classify.model.ModelClassifier`), and can be told which
    texts must not be called an emergency on its own word."""

    def predict_normalised(
        self,
        norm: Sequence[str],
        model_version: str | None = None,
        calm: Sequence[bool] | None = None,
        raw: Sequence[str] | None = None,
    ) -> list[Prediction]: ...


class RuledClassifier:
    """A classifier with the emergency rule layer on top."""

    def __init__(self, inner: Classifier) -> None:
        self.inner = inner
        # Checked once: isinstance against a runtime-checkable Protocol costs tens of
        # microseconds, as much as the rules on one text.
        self._takes_normalised = isinstance(inner, TakesNormalised)

    @property
    def version(self) -> str:
        return f"{self.inner.version}+rules-7"

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        out: list[Prediction] = []
        for start in range(0, len(texts), _CHUNK):
            out.extend(self._predict(texts[start : start + _CHUNK]))
        return out

    def _predict(self, texts: Sequence[str]) -> list[Prediction]:
        norm = [normalise(t) for t in texts]
        trigger = _TRIGGER
        # The rules first: what they find decides where the model may not say emergency.
        found: list[tuple[Danger, bool] | None] = []
        calm: list[bool] = []
        for raw, t in zip(texts, norm, strict=True):
            if trigger is None or trigger.search(t) is not None:
                danger, high = assess_text(raw, t)
                found.append((danger, high))
                # A letter, or a danger that is over or only a risk: an emergency only
                # on the rules' word (a danger now in the title or opening), never on
                # the model's alone.
                calm.append(not danger.present and (danger.over or len(t) > LONG))
            else:
                found.append(None)
                calm.append(len(t) > LONG)
        inner = self.inner
        version = self.version
        if self._takes_normalised:
            fast = cast(TakesNormalised, inner)
            # The model normalises exactly as the rules do: do it once for both, and
            # let it record our version (one Prediction per text, not two).
            preds = fast.predict_normalised(norm, version, calm, raw=texts)
            # A weak emergency call of the model's alone, where the rules saw no
            # danger, is taken back: asked again without emergency (a rare second look).
            # So is any call of the model's alone on someone stuck elsewhere ("stuck in
            # traffic", "stuck at home"; rules-6), or on a text that names a risk with no
            # danger now ("广告牌锈了，随时可能掉下来": a hazard, high at most; rules-7).
            weak = [
                i
                for i, (p, f) in enumerate(zip(preds, found, strict=True))
                if (p.category is Category.EMERGENCY or p.urgency is Urgency.CRITICAL)
                and not (f is not None and f[0].present)
                and (
                    not (
                        p.category is Category.EMERGENCY
                        and p.confidence.get("category", 0.0) >= MODEL_EMERGENCY
                    )
                    or _R_STUCK_ELSEWHERE_ONLY.search(norm[i]) is not None
                    or _R_RISK.search(norm[i]) is not None
                )
            ]
            if weak:
                again = fast.predict_normalised(
                    [norm[i] for i in weak], version, [True] * len(weak), [texts[i] for i in weak]
                )
                for i, p in zip(weak, again, strict=True):
                    preds[i] = p
        else:
            preds = [replace(p, model_version=version) for p in inner.predict(texts)]
        out: list[Prediction] = []
        append = out.append
        for p, f in zip(preds, found, strict=True):
            if f is not None:
                append(apply(p, f[0], f[1]))
            elif p.category is Category.EMERGENCY or p.urgency is Urgency.CRITICAL:
                append(apply(p, NO_DANGER))
            else:  # no danger, not "high", and the model did not say emergency: unchanged
                append(p)
        return out
