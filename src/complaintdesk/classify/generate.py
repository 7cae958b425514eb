"""A generator of labelled owner complaints in Chinese and English.

No public labelled corpus of property complaints exists, so the training data is
written here: *scenarios* (a problem with its category, department and urgency, in
many phrasings per language) are combined with *frames* that decide the nature
(a plain request -> help_seeking, blame -> dissatisfaction, a question or suggestion ->
consulting), then roughened the way owners really write (registers, typos, no
punctuation, full-width characters, emoji, mixed Chinese and English, long
petitions with background). The labels follow ``shared/spec/taxonomy.md``, including
its tie-breakers, which have scenarios of their own (a danger that is over, a
repair that failed again, a rude worker who was also late, ...).

Deterministic: the same seed gives the same corpus (``random.Random(seed)`` only).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from complaintdesk.domain.taxonomy import Category, Department, Nature, Urgency

C, D, U, N = Category, Department, Urgency, Nature

# How a scenario's fact relates to blame:
#   "frame": the fact is neutral; the frame (plain request or blame) decides the nature.
#   "always": the fact itself blames us (our work failed, staff behaved badly).
#   "never": consulting questions and suggestions.
FRAME, ALWAYS, QUESTION = "frame", "always", "question"


@dataclass(frozen=True)
class Scenario:
    key: str
    category: Category
    department: Department
    urgency: Urgency
    zh: tuple[str, ...]
    en: tuple[str, ...]
    blame: str = FRAME
    weight: float = 1.0


def _s(
    key: str,
    cat: Category,
    dep: Department,
    urg: Urgency,
    zh: list[str],
    en: list[str],
    blame: str = FRAME,
    weight: float = 1.0,
) -> Scenario:
    return Scenario(key, cat, dep, urg, tuple(zh), tuple(en), blame, weight)


# --- slots -----------------------------------------------------------------------------

SLOTS_ZH: dict[str, list[str]] = {
    "bld": [
        "3号楼",
        "8栋",
        "12栋2单元",
        "B座",
        "5号楼1单元",
        "7栋",
        "2期16栋",
        "A座",
        "我们这栋楼",
        "我家这个单元",
    ],
    "floor": ["3楼", "12楼", "五楼", "18层", "顶楼", "二楼", "9楼", "负一楼"],
    "unit": ["1202", "503", "2801", "101", "1604", "701"],
    "dur": ["两天", "三天", "一个星期", "半个月", "一个多月", "好几天", "整整五天"],
    "n": ["两", "三", "四", "五", "好几"],
    "place": [
        "小区门口",
        "中心花园",
        "地下车库",
        "儿童游乐区",
        "健身区",
        "北门",
        "南门",
        "单元大堂",
        "楼下",
    ],
}
SLOTS_EN: dict[str, list[str]] = {
    "bld": [
        "block A",
        "building 3",
        "tower 2",
        "block C",
        "building 8",
        "our block",
        "block 5",
        "phase 2 tower 16",
    ],
    "floor": [
        "the 3rd floor",
        "floor 12",
        "the 5th floor",
        "level 18",
        "the top floor",
        "the ground floor",
        "floor 9",
    ],
    "unit": ["5B", "1202", "12A", "303", "7C", "2801"],
    "dur": ["two days", "three days", "a week", "two weeks", "over a month", "five days", "days"],
    "n": ["two", "three", "four", "five", "several"],
    "place": [
        "the main gate",
        "the central garden",
        "the underground car park",
        "the playground",
        "the gym area",
        "the north entrance",
        "the lobby",
        "the podium",
    ],
}

# --- scenarios -------------------------------------------------------------------------

SCENARIOS: list[Scenario] = [
    # equipment -------------------------------------------------------------------------
    _s(
        "lift_broken",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.HIGH,
        [
            "{bld}的电梯坏了",
            "{bld}电梯停运了",
            "电梯不动了,{bld}两部电梯都停了",
            "{bld}的电梯按了没反应",
            "我们单元的电梯又停了,住{floor}只能爬楼",
            "{bld}电梯门关不上,一直开开关关不能用",
            "电梯停在{floor}不动了,现在大家只能走楼梯",
        ],
        [
            "the lift in {bld} is out of service",
            "both elevators in {bld} are down",
            "the elevator in {bld} is not working",
            "lift 2 in {bld} has stopped working",
            "the lift doors in {bld} won't close so nobody can use it",
            "our elevator is broken and I live on {floor}",
        ],
    ),
    _s(
        "lift_noise",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.NORMAL,
        [
            "{bld}的电梯运行的时候有很大的异响",
            "电梯开门很慢还老是晃",
            "电梯里的灯不亮了",
            "电梯按钮{floor}那个按了没反应",
            "电梯里的空调不凉",
        ],
        [
            "the lift in {bld} makes a loud grinding noise",
            "the elevator shakes when it stops",
            "the light inside the lift is out",
            "the button for {floor} in the lift doesn't work",
            "the lift fan has stopped working",
        ],
    ),
    _s(
        "corridor_light",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.NORMAL,
        [
            "楼道灯不亮了",
            "{bld}{floor}的楼道灯坏了",
            "楼梯间的感应灯一直不亮,晚上黑漆漆的",
            "{place}的路灯坏了好几盏",
            "地下车库的灯一半都不亮",
            "单元门口的灯坏了",
            "楼道声控灯失灵了",
        ],
        [
            "the hallway bulb near {unit} has blown",
            "the stairwell lights on {floor} are not working",
            "several street lights near {place} are out",
            "half the lights in the car park are broken",
            "the motion sensor light in our hallway doesn't come on",
            "the lobby light in {bld} keeps flickering",
        ],
    ),
    _s(
        "no_water",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.HIGH,
        [
            "家里突然停水了,{bld}都没水",
            "{bld}停水了",
            "水龙头一点水都没有",
            "我们这栋楼从早上开始就没水了",
            "整个单元都停水了,做饭都没法做",
        ],
        [
            "there is no water in {bld}",
            "our taps have gone dry since this morning",
            "the whole of {bld} has no water",
            "no running water in flat {unit}",
            "the water supply to {bld} has been cut off",
        ],
    ),
    _s(
        "no_power",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.HIGH,
        [
            "{bld}整栋楼停电了",
            "家里突然停电了,邻居家也没电",
            "我们单元没电了",
            "{floor}整层都停电了",
        ],
        [
            "the whole of {bld} has no power",
            "we've lost power in our flat and the neighbours have too",
            "there is a power cut in {bld}",
            "no electricity on {floor}",
        ],
    ),
    _s(
        "water_pressure",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.NORMAL,
        [
            "水压太小了,洗澡都洗不了",
            "{floor}以上水压特别低",
            "自来水是黄色的,有铁锈",
            "热水器打不着,水压不够",
        ],
        [
            "water pressure on {floor} is very low",
            "the tap water is brown and rusty",
            "the shower barely trickles because the pressure is so low",
        ],
    ),
    _s(
        "access_control",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.NORMAL,
        [
            "单元门禁坏了,刷卡没反应",
            "{bld}的门禁刷不开",
            "可视对讲坏了,听不到声音",
            "单元门关不上了,谁都能进",
            "人脸识别门禁识别不了",
        ],
        [
            "the door entry system in {bld} doesn't read my fob",
            "the intercom in {bld} doesn't work",
            "the entrance door of {bld} won't lock",
            "the access card reader at {place} is broken",
            "the video intercom has no sound",
        ],
    ),
    _s(
        "gate_barrier",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.NORMAL,
        [
            "车库道闸抬不起来",
            "{place}的道闸坏了,车进不来",
            "车牌识别不了,每次都要保安手动开",
            "小区大门电动门坏了",
        ],
        [
            "the car park barrier won't lift",
            "the barrier at {place} is stuck",
            "the number plate camera at the car park entrance doesn't recognise my car",
            "the electric gate at {place} is broken",
        ],
    ),
    _s(
        "cctv",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.NORMAL,
        ["{place}的监控摄像头坏了", "车库的监控好多都是黑屏", "单元门口的摄像头被树挡住了"],
        [
            "the CCTV camera at {place} is broken",
            "half the car park cameras show a black screen",
            "the camera at the entrance of {bld} is not working",
        ],
    ),
    _s(
        "aircon",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.NORMAL,
        ["中央空调不制冷", "办公楼的中央空调一直吹热风", "大堂的空调坏了", "新风系统一直有噪音"],
        [
            "the central air conditioning isn't cooling",
            "the air con in the lobby is broken",
            "the ventilation system makes a constant humming noise",
        ],
    ),
    _s(
        "fire_equipment",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.NORMAL,
        [
            "{floor}的灭火器过期了",
            "消防栓里面是空的,水带都没有",
            "楼道的烟感报警器一直在滴滴响",
            "消防应急灯不亮",
            "楼道的消防门坏了关不上",
        ],
        [
            "the fire extinguisher on {floor} is out of date",
            "the fire hose cabinet on {floor} is empty",
            "the smoke detector in the hallway keeps beeping",
            "the emergency exit sign is not lit",
            "the fire door on {floor} doesn't close",
        ],
    ),
    _s(
        "ev_charger",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.NORMAL,
        ["车库的充电桩坏了充不进电", "充电桩扫码没反应", "电动车充电桩一直显示故障"],
        [
            "the EV charger in the car park isn't working",
            "the charging point shows an error every time",
            "the e-bike charging station is broken",
        ],
    ),
    _s(
        "pump_sprinkler",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.NORMAL,
        [
            "绿地里的浇水管断了,水哗哗地流",
            "水泵房一直有很大的噪音",
            "{place}的水管在漏水,地上全是水",
            "喷泉的水泵坏了",
        ],
        [
            "a sprinkler head on the lawn is broken and spraying water everywhere",
            "the pump room makes a loud noise all night",
            "a pipe near {place} is leaking onto the path",
            "the fountain pump is broken",
        ],
    ),
    # building quality -----------------------------------------------------------------
    _s(
        "seepage",
        C.BUILDING_QUALITY,
        D.ENGINEERING,
        U.NORMAL,
        [
            "北面卧室的墙根一直湿湿的,涂料起泡了",
            "卫生间的墙一直返潮发霉",
            "下雨的时候窗户边上渗水",
            "外墙渗水,客厅墙面都发黑了",
            "阳台顶上有水渍,好像是楼上防水没做好",
            "次卧墙上有一大片水印",
        ],
        [
            "there is damp coming through the bedroom wall",
            "water seeps in around the window frame when it rains",
            "the bathroom wall is always damp and mouldy",
            "there's a big water stain on the living room wall",
            "the paint on our wall is bubbling from damp",
            "the balcony ceiling has water marks, probably failed waterproofing upstairs",
        ],
    ),
    _s(
        "active_leak",
        C.BUILDING_QUALITY,
        D.ENGINEERING,
        U.HIGH,
        [
            "厨房天花板在往下滴水,应该是楼上漏水",
            "楼上卫生间漏水,我家天花板一直在滴",
            "屋顶漏水,下雨天家里接了好几个盆",
            "楼上漏水漏到我家,吊顶都泡了",
        ],
        [
            "there is water running down our bathroom ceiling from the flat above",
            "the flat above is leaking into our bathroom right now",
            "the roof is leaking and we have buckets all over the living room",
            "water is coming through our ceiling light",
        ],
    ),
    _s(
        "sewage",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.HIGH,
        [
            "下水道堵了,污水从地漏反上来了",
            "楼下管道堵了,马桶在往外冒污水",
            "厨房下水反水,一屋子臭味",
        ],
        [
            "sewage is backing up through our shower drain",
            "the toilet is overflowing because the main drain is blocked",
            "dirty water is coming up from the kitchen drain",
        ],
    ),
    _s(
        "crack",
        C.BUILDING_QUALITY,
        D.ENGINEERING,
        U.NORMAL,
        [
            "卧室墙上有一条裂缝,越来越长",
            "客厅地砖空鼓了",
            "卫生间瓷砖裂开了",
            "楼梯的台阶裂了",
            "外墙有好几条裂缝",
            "阳台的地面开裂了",
        ],
        [
            "a thin crack has appeared above the bedroom door",
            "the floor tiles in the living room sound hollow",
            "a big crack has appeared in the ceiling",
            "the bathroom tiles are cracking",
            "the stairs outside {bld} have a long crack",
            "several tiles in the kitchen have come loose",
        ],
    ),
    _s(
        "design_flaw",
        C.BUILDING_QUALITY,
        D.ENGINEERING,
        U.NORMAL,
        [
            "新房子窗户关不严,冬天漏风",
            "卫生间地面找坡不对,水都往外流",
            "房子隔音太差了,隔壁说话都听得清",
            "入户门变形了关不上",
        ],
        [
            "the windows in our new flat don't seal and there's a draught",
            "the bathroom floor slopes the wrong way so water runs into the hall",
            "the front door has warped and won't close properly",
            "the walls are so thin we can hear every word from next door",
        ],
    ),
    # service quality (our own work) ---------------------------------------------------
    _s(
        "repair_failed",
        C.SERVICE_QUALITY,
        D.ENGINEERING,
        U.NORMAL,
        [
            "前几天才换过的单元门锁又打不开了",
            "师傅换的水龙头第二天又漏了",
            "维修了三次的电梯又坏了,修了跟没修一样",
            "你们上周修的楼道灯又不亮了",
            "刚修完的下水道又堵了,到底会不会修",
            "维修工补的墙又裂开了",
            "师傅来修完热水器,第二天就不能用了",
        ],
        [
            "the intercom you fixed last month has broken again",
            "the boiler your engineer repaired broke down again within a day",
            "the tap your plumber replaced is leaking again",
            "the corridor light was repaired twice and it's out again",
            "the drain you cleared last week is blocked again",
            "the crack your team patched has opened up again",
        ],
        ALWAYS,
        1.3,
    ),
    _s(
        "repair_mess",
        C.SERVICE_QUALITY,
        D.ENGINEERING,
        U.NORMAL,
        [
            "维修工修完管道,把垃圾和水泥全留在楼道里",
            "师傅来修完空调,地上全是脚印和灰也不收拾",
            "修完电梯的零件和包装扔在大堂没人管",
        ],
        [
            "the maintenance guys left rubble and cement all over the corridor after the repair",
            "the technician left dirty footprints and dust everywhere after fixing the air con",
            "after the lift repair they left packaging and parts in the lobby",
        ],
        ALWAYS,
    ),
    _s(
        "rubbish",
        C.SERVICE_QUALITY,
        D.CLEANING,
        U.NORMAL,
        [
            "回收站的桶全满了,周围扔得到处都是",
            "楼下的垃圾桶满了好几天了没人清",
            "垃圾站臭气熏天,苍蝇乱飞",
            "垃圾桶边上堆满了垃圾也没人管",
        ],
        [
            "the rubbish bags at {place} are piled up and nobody collects them",
            "the rubbish room stinks and is full of flies",
            "rubbish is piling up next to the bins at {place}",
            "the recycling point hasn't been cleared all week",
        ],
        ALWAYS,
        1.2,
    ),
    _s(
        "cleaning",
        C.SERVICE_QUALITY,
        D.CLEANING,
        U.NORMAL,
        [
            "楼道好久没打扫了,全是灰",
            "电梯里有尿味,保洁也不清理",
            "楼梯扶手脏得要命",
            "大堂地面脏兮兮的,保洁根本没拖",
            "楼道里的狗屎好几天了都没人清理",
        ],
        [
            "the corridors haven't been cleaned for weeks",
            "the lift smells of urine and nobody cleans it",
            "the stair handrails are filthy",
            "the lobby floor is dirty, it clearly hasn't been mopped",
            "there's dog mess in the stairwell that's been there for days",
        ],
        ALWAYS,
    ),
    _s(
        "pests",
        C.SERVICE_QUALITY,
        D.CLEANING,
        U.NORMAL,
        [
            "楼道里老鼠很多",
            "垃圾房附近好多蟑螂",
            "地下室有很多蚊子,能不能消杀一下",
            "家门口经常看到老鼠跑过",
        ],
        [
            "there are rats in the bin store",
            "we keep seeing cockroaches in the corridor",
            "the basement is full of mosquitoes, can you spray it",
            "mice are running around the car park",
        ],
    ),
    _s(
        "landscaping",
        C.SERVICE_QUALITY,
        D.LANDSCAPING,
        U.NORMAL,
        [
            "小区的灌木长得乱七八糟,好久没人打理",
            "草坪好久没人剪了,草长得老高",
            "花坛里的花都枯死了也没人管",
            "小区的树枝快碰到电线了,一直没人修剪",
            "打药的时候也不提前通知,我家晒的衣服上全是药",
        ],
        [
            "the bushes by the footpath have grown wild and scratch people walking past",
            "the grass hasn't been cut for weeks",
            "the flower beds are full of dead plants",
            "tree branches are touching the windows of {bld} and nobody prunes them",
            "they sprayed pesticide without any notice and it got on our laundry",
        ],
        ALWAYS,
    ),
    _s(
        "trees_help",
        C.SERVICE_QUALITY,
        D.LANDSCAPING,
        U.NORMAL,
        [
            "我家窗前的树枝太长了,能不能修剪一下",
            "楼下的草坪有个大坑",
            "有棵树倒在了{place}的草地上",
        ],
        [
            "the tree outside our window needs trimming",
            "could someone cut back the bushes by {place}",
            "a small tree has fallen over on the lawn by {place}",
        ],
    ),
    _s(
        "theft",
        C.SERVICE_QUALITY,
        D.SECURITY,
        U.NORMAL,
        [
            "停在单元门口的电动车被人骑走了",
            "停在车库的车被人划了",
            "电动车电瓶被偷了",
            "家门口的快递被人拿走了,监控也没拍到",
            "车库里我的车窗被人砸了",
            "陌生人随便就进了小区,保安也不问",
        ],
        [
            "my scooter disappeared from the basement storage",
            "someone keyed my car while it was parked in your garage",
            "someone stole the battery from my e-bike",
            "a stranger walked straight into {bld} behind me and the guard didn't stop him",
            "my car window was smashed in the underground car park",
        ],
        ALWAYS,
        1.2,
    ),
    _s(
        "break_in",
        C.SERVICE_QUALITY,
        D.SECURITY,
        U.HIGH,
        [
            "家里刚被撬了,东西被偷了",
            "今天回家发现门锁被撬了,家里被翻得乱七八糟",
            "车库的储藏室刚被人撬开了",
        ],
        [
            "we just got home and found our flat has been broken into",
            "our storage locker in the basement was broken into this afternoon",
            "someone broke into our flat while we were at work today",
        ],
        ALWAYS,
    ),
    _s(
        "parcels",
        C.SERVICE_QUALITY,
        D.CUSTOMER_SERVICE,
        U.NORMAL,
        [
            "放在物业前台的快递不见了",
            "我的包裹在你们前台放了三天都没人通知我",
            "信件被放错了邮箱,好几次了",
            "快递柜旁边的包裹被拿错了",
        ],
        [
            "my parcel left at your front desk has gone missing",
            "the concierge signed for my package and now can't find it",
            "our mail keeps being put in the wrong letterbox",
            "a parcel sat at reception for a week and nobody told me",
        ],
        ALWAYS,
    ),
    # service attitude -----------------------------------------------------------------
    _s(
        "rude",
        C.SERVICE_ATTITUDE,
        D.CUSTOMER_SERVICE,
        U.NORMAL,
        [
            "服务台的工作人员说话阴阳怪气的,一问三不知",
            "保安对我老母亲大吼大叫",
            "打物业电话,客服直接挂了",
            "客服态度特别差,爱答不理的",
            "维修师傅跟我吵起来了,还骂人",
            "我去物业办事,工作人员一直在玩手机不理我",
            "保洁阿姨骂我家孩子",
            "物业经理说这不归他们管,让我自己想办法",
            "打了十几个电话都没人接,好不容易接了还推来推去",
        ],
        [
            "the security man at the entrance was aggressive and swore at my dad",
            "the woman at reception rolled her eyes and said it's not her job",
            "your manager hung up on me",
            "the receptionist was on her phone the whole time and ignored me",
            "the technician argued with me and swore",
            "every time I call, your staff say it's not their department",
            "the cleaner was really rude to my kids",
            "I've called a dozen times and nobody answers the phone",
        ],
        ALWAYS,
        1.3,
    ),
    _s(
        "late_and_rude",
        C.SERVICE_ATTITUDE,
        D.CUSTOMER_SERVICE,
        U.NORMAL,
        [
            "维修工约好九点来,十一点才到,还嫌我家东西多不好干活",
            "师傅迟到了两个小时,来了还甩脸色",
            "报修拖了一个星期,师傅来了还说我们自己弄坏的,态度很差",
            "修水管的来晚了不说,还对我老公大吼",
        ],
        [
            "the plumber was two hours late and then was rude to my wife",
            "the repair took a week to happen and the technician blamed us and was rude about it",
            "your technician turned up late and then complained and sulked the whole time",
            "the workman came a day late and shouted at me when I asked why",
        ],
        ALWAYS,
    ),
    _s(
        "complaint_handling",
        C.SERVICE_ATTITUDE,
        D.CUSTOMER_SERVICE,
        U.NORMAL,
        [
            "我上周投诉的事到现在没人回复",
            "投诉了三次,每次都说会处理,然后就没下文了",
            "客服答应给我回电话,结果一直没打",
        ],
        [
            "I complained last week and nobody has replied",
            "I've complained three times and every time you promise to call back and never do",
            "your customer service promised to call me back and never did",
        ],
        ALWAYS,
    ),
    # management and fees ----------------------------------------------------------------
    _s(
        "billing",
        C.MANAGEMENT,
        D.FINANCE,
        U.NORMAL,
        [
            "缴费单上莫名其妙多了一项二次供水费,谁批准的",
            "同一个月的物业费收了我两次",
            "物业费涨价了也不提前通知",
            "停车费为什么突然涨了一倍",
            "发票开错了好几次",
            "押金交了半年还不退",
            "维修基金用在哪里了,从来不公示",
            "电梯广告的收入去哪了,从来不公开",
        ],
        [
            "the management fee was deducted from my account two times in March",
            "why is there no breakdown of the common-area utility costs on the bill",
            "the service charge went up without any notice",
            "my deposit still hasn't been refunded after six months",
            "the parking fee doubled overnight",
            "where does the money from the lift adverts go, you never publish the accounts",
            "my invoice has the wrong amount again",
            "I was charged a late fee even though I paid on time",
        ],
        ALWAYS,
        1.3,
    ),
    _s(
        "rules",
        C.MANAGEMENT,
        D.CUSTOMER_SERVICE,
        U.NORMAL,
        [
            "装修审批交上去两周了还没批",
            "车位分配不公平,后来的人都有了我还没有",
            "门禁卡补办要等半个月",
            "物业不让我们在自家门口装监控,哪条规定的",
            "小区规定不准养大型犬,但是有人养了物业也不管",
            "装修只能周一到周五,我们上班族怎么办",
        ],
        [
            "my renovation permit application has been sitting with you for two weeks",
            "the parking space allocation is unfair, newcomers got spaces before us",
            "it takes two weeks to get a replacement access card",
            "why am I not allowed to install a doorbell camera, which rule says so",
            "you only allow renovation on weekdays, which is impossible for working people",
        ],
        ALWAYS,
    ),
    # neighbourhood ---------------------------------------------------------------------
    _s(
        "noise",
        C.NEIGHBORHOOD,
        D.SECURITY,
        U.NORMAL,
        [
            "楼上天天一大早就乒乒乓乓敲东西",
            "楼上半夜拖椅子跳绳,吵得睡不着",
            "隔壁天天晚上唱卡拉ok到一两点",
            "楼下广场舞的音响开得太大了",
            "隔壁装修周末一大早就开始电钻",
        ],
        [
            "the couple upstairs are moving furniture around past midnight",
            "the neighbours upstairs stomp around at midnight",
            "the people next door play loud music every night",
            "the square dancing music at {place} is far too loud",
            "our neighbour's renovation starts drilling at 7am on Sundays",
        ],
    ),
    _s(
        "pets",
        C.NEIGHBORHOOD,
        D.SECURITY,
        U.NORMAL,
        [
            "邻居家的狗整天叫",
            "有人遛狗不牵绳,吓到小孩了",
            "楼上养的鸽子到处拉屎",
            "对门养了好几只猫,楼道一股味",
        ],
        [
            "the dog next door barks all day",
            "people walk big dogs without a lead near the playground",
            "the neighbour's cats make the whole corridor stink",
        ],
    ),
    _s(
        "obstruction",
        C.NEIGHBORHOOD,
        D.SECURITY,
        U.NORMAL,
        [
            "对门的旧沙发一直摆在楼梯口",
            "有人把电动车推进楼道充电",
            "消防通道上停满了车",
            "邻居在楼道里堆了好多杂物",
        ],
        [
            "our neighbour keeps shoes and boxes in the fire escape",
            "someone charges their e-bike in the corridor",
            "cars are parked all along the fire lane",
            "the people in {unit} store junk in the shared hallway",
        ],
    ),
    _s(
        "illegal_building",
        C.NEIGHBORHOOD,
        D.SECURITY,
        U.NORMAL,
        [
            "一楼的邻居在花园里私自搭了个棚子",
            "顶楼那家在楼顶违建了一个房间",
            "楼下把阳台外扩了,这是违建吧",
        ],
        [
            "the ground floor neighbour has built an illegal shed in the garden",
            "someone has built an extra room on the roof",
            "the flat below has extended their balcony without permission",
        ],
    ),
    _s(
        "smoke_neighbour",
        C.NEIGHBORHOOD,
        D.SECURITY,
        U.NORMAL,
        ["楼下邻居在阳台抽烟,烟味全飘到我家", "有人在楼道里抽烟", "邻居家空调外机滴水滴到我家阳台"],
        [
            "the neighbour below smokes on his balcony and it all comes into our flat",
            "people smoke in the stairwell",
            "the neighbour's air conditioner drips onto our balcony",
        ],
    ),
    _s(
        "thrown_habitual",
        C.NEIGHBORHOOD,
        D.SECURITY,
        U.NORMAL,
        ["楼上经常往下扔烟头和果皮", "总有人从楼上往下倒水", "经常有人从高层扔垃圾下来"],
        [
            "someone upstairs keeps throwing cigarette butts out of the window",
            "people often throw rubbish from the upper floors",
            "someone regularly pours water off their balcony onto ours",
        ],
    ),
]

# A danger that is over is not an emergency: these look like emergencies but are not.
PAST_DANGER: list[tuple[Scenario, Nature]] = [
    (
        _s(
            "past_power",
            C.EQUIPMENT,
            D.ENGINEERING,
            U.NORMAL,
            [
                "昨晚停电了三个小时,为什么没有提前通知",
                "昨天晚上突然停电,现在来电了,能不能说一下原因",
                "上周停了两次电,到底是什么原因",
            ],
            [
                "the power was off last night, why",
                "we had a power cut yesterday evening with no warning, what happened",
                "the electricity went off twice last week, what is going on",
            ],
            ALWAYS,
        ),
        N.DISSATISFACTION,
    ),
    (
        _s(
            "past_lift",
            C.EQUIPMENT,
            D.ENGINEERING,
            U.NORMAL,
            [
                "上周我被困在电梯里四十分钟,救援太慢了",
                "前天我妈被关在电梯里半个小时才出来,这电梯到底有没有人检修",
                "昨天电梯困人,已经救出来了,但电梯到现在都没人来查",
            ],
            [
                "last week I was stuck in the lift for forty minutes before anyone came",
                "my mother was trapped in the lift for half an hour on Monday, does anyone maintain it",  # noqa: E501
                "someone was stuck in the lift yesterday, they got out, but nobody has checked the lift since",  # noqa: E501
            ],
            ALWAYS,
        ),
        N.DISSATISFACTION,
    ),
    (
        _s(
            "past_fire",
            C.SERVICE_QUALITY,
            D.CLEANING,
            U.NORMAL,
            [
                "前天楼道着过火,已经扑灭了,可墙上地上黑乎乎的一直没人清理",
                "上次火灾之后楼梯间全是灰,到现在都没打扫",
            ],
            [
                "there was a small fire in the stairwell on Sunday, it's out, but the soot is still everywhere",  # noqa: E501
                "since the fire last month nobody has cleaned the burnt mess in the corridor",
            ],
            ALWAYS,
        ),
        N.DISSATISFACTION,
    ),
    (
        _s(
            "past_gas",
            C.EQUIPMENT,
            D.ENGINEERING,
            U.LOW,
            [
                "昨天家里有燃气味,燃气公司已经修好了,想问一下以后要不要定期检查",
                "上周燃气泄漏的事处理完了,请问小区管道多久检查一次",
            ],
            [
                "we had a gas smell yesterday and the gas board fixed it, how often are the pipes inspected",  # noqa: E501
                "the gas leak last week has been sorted, is there a regular safety check for the pipes",  # noqa: E501
            ],
            QUESTION,
        ),
        N.CONSULTING,
    ),
    (
        _s(
            "past_flood",
            C.EQUIPMENT,
            D.ENGINEERING,
            U.NORMAL,
            [
                "上周暴雨地下车库被淹了,现在水退了,排水泵到底有没有在用",
                "前几天车库进水,水已经退了,但一直没人说明原因",
            ],
            [
                "the car park flooded in last week's storm, the water is gone now but has anyone checked the pumps",  # noqa: E501
                "the basement flooded a few days ago, it has drained, but nobody has explained why",
            ],
            ALWAYS,
        ),
        N.DISSATISFACTION,
    ),
    (
        _s(
            "past_fight",
            C.SERVICE_QUALITY,
            D.SECURITY,
            U.NORMAL,
            [
                "昨晚楼下有人打架,保安半个小时才到",
                "前天晚上有陌生人在楼道里闹事,保安根本没出现,现在人已经走了",
            ],
            [
                "there was a fight outside {bld} last night and security took half an hour to show up",  # noqa: E501
                "a drunk man was banging on doors on Saturday night and no guard came, he's gone now",  # noqa: E501
            ],
            ALWAYS,
        ),
        N.DISSATISFACTION,
    ),
]

# Emergencies: people or property endangered now. Department: technical -> engineering,
# fire / violence / injured / falling -> security.
EMERGENCIES: list[Scenario] = [
    _s(
        "fire",
        C.EMERGENCY,
        D.SECURITY,
        U.CRITICAL,
        [
            "{bld}{floor}着火了",
            "{bld}有户人家冒浓烟",
            "楼道里全是烟,看不清路",
            "地下车库有辆车烧起来了",
            "配电房在冒烟,有焦糊味",
            "隔壁厨房起火了,火苗都窜出来了",
            "楼下垃圾桶着火了,火越来越大",
            "{floor}的窗户在往外冒黑烟",
        ],
        [
            "there's a fire on {floor} of {bld}",
            "black smoke is coming from flat {unit} in {bld}",
            "the stairwell is full of smoke",
            "a car is on fire in the underground car park",
            "the electrical room is smoking and smells burnt",
            "flames are coming out of the flat next door",
            "the bins behind {bld} are on fire",
        ],
        weight=1.3,
    ),
    _s(
        "gas",
        C.EMERGENCY,
        D.ENGINEERING,
        U.CRITICAL,
        [
            "厨房里燃气味很重",
            "楼道里一股很浓的煤气味",
            "闻到很浓的天然气味,不知道哪家漏气了",
            "家里燃气管道在漏气,嘶嘶响",
            "{floor}电梯口煤气味特别重",
        ],
        [
            "there is a strong smell of gas in the corridor on {floor}",
            "I can smell gas in my kitchen",
            "the gas pipe outside {unit} is hissing",
            "the whole stairwell smells of gas",
        ],
    ),
    _s(
        "trapped",
        C.EMERGENCY,
        D.ENGINEERING,
        U.CRITICAL,
        [
            "{bld}的电梯困人了",
            "我被困在电梯里了",
            "我妈被关在电梯里出不来",
            "电梯卡在{floor}和下一层之间,里面有人",
            "有小孩被困在电梯里在哭",
        ],
        [
            "people are stuck inside the lift in {bld}",
            "I'm stuck in the elevator between floors",
            "my son is stuck in the lift in {bld}",
            "the lift stopped between floors with people inside",
        ],
        weight=1.2,
    ),
    _s(
        "live_wire",
        C.EMERGENCY,
        D.ENGINEERING,
        U.CRITICAL,
        [
            "{floor}楼道的电线在冒火花",
            "电箱在冒火花还噼啪响",
            "{place}地上有根断了的电线还带电",
            "路灯杆漏电,狗碰了一下被电倒了",
        ],
        [
            "there's an exposed live wire hanging in the lobby",
            "the electrical box on {floor} is sparking",
            "a broken cable is lying on the path at {place} and it's live",
            "the light pole near {place} is giving people electric shocks",
        ],
    ),
    _s(
        "burst_flood",
        C.EMERGENCY,
        D.ENGINEERING,
        U.CRITICAL,
        [
            "水管爆了,水一直往外喷",
            "地下车库进水了,水越来越深",
            "家里水管爆裂,总阀关不上,水漫到客厅了",
            "楼道里的消防水管爆了,水往电梯井里灌",
        ],
        [
            "a pipe burst and water is pouring into the hallway",
            "the basement car park is flooding fast",
            "a pipe has burst in our flat and I can't shut the water off",
            "water is gushing into the lift shaft from a burst pipe",
        ],
    ),
    _s(
        "violence",
        C.EMERGENCY,
        D.SECURITY,
        U.CRITICAL,
        [
            "楼下有人打架,还拿着刀",
            "有个陌生人正在撬邻居家的门",
            "有人喝醉了在单元门口砸东西打人",
            "有个男的在{place}跟着小孩,很可疑",
        ],
        [
            "two men are fighting in the car park and one has a knife",
            "someone is trying to break into flat {unit} right now",
            "a drunk man is smashing things and attacking people at {place}",
            "there's an intruder in our building going door to door",
        ],
    ),
    _s(
        "injured",
        C.EMERGENCY,
        D.SECURITY,
        U.CRITICAL,
        [
            "有位老人在{place}晕倒了",
            "小孩从滑梯上摔下来,头在流血",
            "有人在健身区倒地不起",
            "我爸在家摔倒了起不来,我一个人抬不动",
            "{place}有个人昏过去了",
        ],
        [
            "an elderly man has collapsed at {place} and isn't responding",
            "a child fell off the climbing frame and is bleeding badly",
            "someone has fainted in the lobby of {bld}",
            "my father has fallen at home and can't get up",
            "a woman is lying unconscious near {place}",
        ],
    ),
    _s(
        "falling",
        C.EMERGENCY,
        D.SECURITY,
        U.CRITICAL,
        [
            "外墙瓷砖正在往下掉,下面还有人走",
            "楼上有人正在往下扔花盆,差点砸到人",
            "大风把广告牌吹得快掉下来了,下面就是人行道",
            "阳台护栏松了,随时会掉下去",
        ],
        [
            "tiles are falling off the facade onto the footpath right now",
            "someone is throwing flower pots from a high floor, one just missed a kid",
            "a sign is about to blow off the building onto the pavement",
            "a balcony railing on {floor} is hanging loose and about to fall",
        ],
    ),
]

# Consulting: questions and suggestions, urgency low.
CONSULTING: list[Scenario] = [
    _s(
        "q_fees",
        C.MANAGEMENT,
        D.FINANCE,
        U.LOW,
        [
            "管理费能不能一个季度交一次",
            "物业费什么时候交",
            "物业费可以用微信交吗",
            "发票怎么开",
            "停车费怎么收",
            "维修基金怎么申请使用",
            "物业费一平米多少钱",
        ],
        [
            "can I pay the service charge monthly",
            "when is the service charge due",
            "how do I get an invoice for my fees",
            "can I pay the parking fee by card",
            "how much is the monthly management fee per square metre",
            "how do we apply to use the maintenance fund",
        ],
        QUESTION,
    ),
    _s(
        "q_rules",
        C.MANAGEMENT,
        D.CUSTOMER_SERVICE,
        U.LOW,
        [
            "周日可以装修吗",
            "物业办公室周六上班吗",
            "装修要办什么手续",
            "门禁卡怎么补办",
            "小区可以养狗吗",
            "租的车位怎么续",
            "搬家需要提前登记吗",
            "访客车可以进小区吗",
        ],
        [
            "what are the opening hours of the service desk",
            "can I renovate on Sunday",
            "what paperwork do I need for a renovation",
            "how do I get a replacement access card",
            "are pets allowed in the building",
            "do I need to book the lift for moving house",
            "can visitors park inside the estate",
        ],
        QUESTION,
        1.2,
    ),
    _s(
        "s_equipment",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.LOW,
        [
            "建议在篮球场边上装几个饮水机",
            "能不能多装几个充电桩",
            "建议在单元门口装个雨棚",
            "希望地下车库多装几盏灯",
            "能不能在北门加个自行车棚",
        ],
        [
            "would you consider a shelter for the delivery lockers",
            "please add bike racks by {place}",
            "could you install more EV chargers",
            "it would be nice to have benches by the playground",
            "could we get a ramp at the entrance of {bld} for prams",
        ],
        QUESTION,
    ),
    _s(
        "s_landscape",
        C.SERVICE_QUALITY,
        D.LANDSCAPING,
        U.LOW,
        ["建议中心花园多种点花", "能不能在{place}多种几棵树"],
        [
            "could you plant more flowers in the central garden",
            "it would be lovely to have more trees near {place}",
        ],
        QUESTION,
        0.5,
    ),
    _s(
        "s_cleaning",
        C.SERVICE_QUALITY,
        D.CLEANING,
        U.LOW,
        ["建议每个单元门口放个垃圾桶", "能不能增加一次垃圾清运"],
        [
            "could you put a bin by each entrance",
            "would it be possible to collect the recycling twice a week",
        ],
        QUESTION,
        0.5,
    ),
]

# --- frames ------------------------------------------------------------------------------

HELP_ZH = [
    "{f}",
    "{f},麻烦派人来看看",
    "{f},请尽快安排师傅处理",
    "你好,{f},能帮忙处理一下吗",
    "{f},谢谢",
    "{f},能派人来看一下吗",
    "麻烦物业处理一下:{f}",
    "{f},请物业帮忙",
    "您好,{f},辛苦安排一下",
    "{f},请问什么时候能处理",
    "报修:{f}",
    "{f},麻烦了",
]
HELP_EN = [
    "{f}.",
    "{f}, could someone take a look please?",
    "Hi, {f}. Can you send someone?",
    "{f}. Thanks.",
    "{f}, please deal with it.",
    "Hello, {f}. Could you arrange a repair?",
    "Just to let you know {f}.",
    "{f}. When can someone come?",
    "Please help: {f}.",
    "{f}, can you sort it out?",
]
BLAME_ZH = [
    "{f},报修好几次了还是没人管",
    "{f},都{dur}了还没修好",
    "{f},物业到底管不管",
    "{f},交那么多物业费有什么用",
    "{f},打了{n}次电话都没人来",
    "{f},一直没人处理",
    "又是这样!{f}",
    "{f},你们怎么管的",
    "再次投诉:{f},上次说好的处理呢",
    "{f},你们物业就是摆设吗",
    "{f},已经反映{n}次了,还是老样子",
    "{f},到现在也没人来,太过分了",
    "{f},物业连个通知都没有",
    "{f},要是再不处理我就不交物业费了",
]
BLAME_EN = [
    "{f}. Still not fixed after {dur}.",
    "{f}. I've reported this {n} times and nobody came.",
    "{f}. What do we pay you for?",
    "{f} again! This is unacceptable.",
    "{f} and nobody has done anything about it.",
    "{f}. Absolutely ridiculous.",
    "{f}, and you never manage anything properly.",
    "Again: {f}. Nobody came last time either.",
    "{f}. I'm fed up with this management company.",
    "{f}. It's been {dur} and still no one has come.",
    "{f}, and there isn't even a notice.",
    "{f}. If this isn't sorted I'm withholding my service charge.",
]
ALWAYS_ZH = [
    "{f}",
    "{f}!",
    "{f},你们怎么回事",
    "{f},太让人失望了",
    "{f},请给个说法",
    "{f},希望物业重视",
    "投诉:{f}",
    "{f},麻烦处理一下",
]
ALWAYS_EN = [
    "{f}.",
    "{f}!",
    "{f}. Please explain.",
    "{f}. Very disappointed.",
    "Complaint: {f}.",
    "{f}. I want this looked into.",
    "{f}, please sort it out.",
]
QUESTION_ZH = [
    "{f}?",
    "请问{f}?",
    "想咨询一下,{f}?",
    "不是投诉,只是想问问,{f}?",
    "你好,{f}",
    "问一下{f}",
]
QUESTION_EN = [
    "{F}?",
    "Quick question: {f}?",
    "Not a complaint, just asking: {f}?",
    "Hi, {f}?",
    "I'd like to ask, {f}?",
    "{F}? Thanks.",
]
EMERG_ZH = [
    "{f}",
    "{f}!",
    "{f}!!快来人",
    "{f},请马上派人来",
    "{f},快来人啊",
    "救命,{f}",
    "紧急!{f}",
    "{f},已经打了119",
    "{f},请保安赶紧过来",
    "{f},怎么办",
    "{f},请马上来人帮忙",
]
EMERG_EN = [
    "{F}!",
    "{F}, please hurry!",
    "Help! {f}!",
    "Urgent: {f}.",
    "{F}, send someone now!",
    "{F}. We've called 999.",
    "{F}, come quickly please.",
    "{F}!!!",
]
EMERG_BLAME_ZH = [
    "{f},打物业电话半天没人接!",
    "{f},保安呢?怎么一个人都没有!",
    "{f},你们值班的人都去哪了",
]
EMERG_BLAME_EN = [
    "{F} and nobody answers your emergency line!",
    "{F}, where are your guards?!",
    "{F} and your night staff are nowhere to be found!",
]

BACKGROUND_ZH = [
    "我是{bld}{unit}的业主,在这里住了八年了。",
    "你好,我是{bld}的住户。",
    "物业你们好,",
    "业主反映:",
    "{bld}{unit}业主:",
    "我家老人腿脚不好,",
    "我们小区入住五年了,一直挺满意,但是最近",
    "本人是租户,",
]
BACKGROUND_EN = [
    "I've lived in {bld} since 2015 and rarely complain, but ",
    "Hi, I'm the owner of {unit} in {bld}. ",
    "Dear management, ",
    "Resident of {unit} here. ",
    "To whom it may concern, ",
    "My elderly parents live with us, and ",
]
TAIL_ZH = [
    "谢谢。",
    "盼复。",
    "请尽快回复。",
    "辛苦了。",
    "希望尽快解决。",
    "联系电话138xxxx5678。",
]
TAIL_EN = [
    "Thanks.",
    "Regards, flat {unit}.",
    "Please reply.",
    "Thank you in advance.",
    "Call me on 0712 345 678.",
]

MIX_ZH_EN = {
    "电梯": "lift",
    "物业": "management",
    "麻烦": "pls",
    "谢谢": "thx",
    "尽快": "asap",
    "师傅": "technician",
    "快递": "parcel",
    "停车场": "car park",
}
MIX_EN_ZH = {
    "management": "物业",
    "technician": "师傅",
    "please": "麻烦",
    "the lift": "电梯",
    "parcel": "快递",
    "thanks": "谢谢",
}
TYPO_ZH = {
    "已经": "以经",
    "在": "再",
    "的": "得",
    "怎么": "咋",
    "没有": "木有",
    "师傅": "师父",
    "物业": "物叶",
    "电梯": "电体",
    "漏水": "露水",
    "马上": "马尚",
}
EMOJI_CALM = ["🙏", "🙂", "👍", "😓", "🥲"]
EMOJI_ANGRY = ["😡", "😤", "💢", "🤬", "😠"]
EMOJI_URGENT = ["😱", "🆘", "😭", "‼️"]


def _fill(template: str, slots: dict[str, list[str]], rng: random.Random) -> str:
    out = template
    for key, values in slots.items():
        token = "{" + key + "}"
        while token in out:
            out = out.replace(token, rng.choice(values), 1)
    return out


def _frame(frame: str, fact: str) -> str:
    cap = fact[:1].upper() + fact[1:]
    return frame.replace("{F}", cap).replace("{f}", fact)


def _typo_en(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(words))
        w = words[i]
        if len(w) > 3 and w.isalpha():
            j = rng.randrange(1, len(w) - 1)
            op = rng.random()
            if op < 0.4:
                w = w[:j] + w[j + 1 :]
            elif op < 0.7:
                w = w[: j - 1] + w[j] + w[j - 1] + w[j + 1 :]
            else:
                w = w[:j] + w[j] + w[j:]
            words[i] = w
    return " ".join(words)


def _typo_zh(text: str, rng: random.Random) -> str:
    keys = [k for k in TYPO_ZH if k in text]
    for k in rng.sample(keys, min(len(keys), rng.randint(1, 2))):
        text = text.replace(k, TYPO_ZH[k], 1)
    return text


def _fullwidth(text: str) -> str:
    return "".join(
        chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in text
    )


_PUNCT_STRIP = str.maketrans("", "", ",。!?:;,.!?:;")


def _roughen(text: str, lang: str, mood: str, rng: random.Random) -> str:
    r = rng.random
    if lang == "zh":
        if r() < 0.15:
            text = _typo_zh(text, rng)
        if r() < 0.12:
            for k, v in MIX_ZH_EN.items():
                if k in text and r() < 0.6:
                    text = text.replace(k, v)
        if r() < 0.2:
            text = text.replace(",", ",").replace("!", "!").replace("?", "?").replace(":", ":")
        if r() < 0.08:
            text = _fullwidth(text)
    else:
        low = text.lower()
        if r() < 0.2:
            text = _typo_en(text, rng)
        if r() < 0.08:
            for k, v in MIX_EN_ZH.items():
                if k in low and r() < 0.7:
                    text = text.replace(k, v).replace(k.capitalize(), v)
        if r() < 0.2:
            text = text.lower()
        if mood == "angry" and r() < 0.15:
            text = text.upper()
        if r() < 0.05:
            text = _fullwidth(text)
    if r() < 0.15:
        text = text.translate(_PUNCT_STRIP)
    if r() < 0.15:
        pool = {"angry": EMOJI_ANGRY, "urgent": EMOJI_URGENT}.get(mood, EMOJI_CALM)
        text = text + rng.choice(pool) * rng.randint(1, 3)
    return text


def _compose(scn: Scenario, lang: str, kind: str, rng: random.Random) -> str:
    slots = SLOTS_ZH if lang == "zh" else SLOTS_EN
    fact = _fill(rng.choice(scn.zh if lang == "zh" else scn.en), slots, rng)
    zh = lang == "zh"
    pools = {
        "help": HELP_ZH if zh else HELP_EN,
        "blame": BLAME_ZH if zh else BLAME_EN,
        "always": ALWAYS_ZH if zh else ALWAYS_EN,
        "question": QUESTION_ZH if zh else QUESTION_EN,
        "emerg": EMERG_ZH if zh else EMERG_EN,
        "emerg_blame": EMERG_BLAME_ZH if zh else EMERG_BLAME_EN,
    }
    text = _fill(_frame(rng.choice(pools[kind]), fact), slots, rng)
    if kind == "question" and zh and text.endswith("吗??"):
        text = text[:-1]
    # Long petitions: background before, a closing after.
    if rng.random() < 0.2:
        bg = _fill(rng.choice(BACKGROUND_ZH if zh else BACKGROUND_EN), slots, rng)
        tail = _fill(rng.choice(TAIL_ZH if zh else TAIL_EN), slots, rng)
        text = bg + (text[:1].lower() + text[1:] if not zh and bg.endswith("but ") else text)
        text = text + ("" if zh else " ") + tail
    mood = {"blame": "angry", "emerg": "urgent", "emerg_blame": "urgent"}.get(kind, "calm")
    return _roughen(text, lang, mood, rng)


Record = dict[str, str]


def _record(text: str, nature: Nature, scn: Scenario) -> Record:
    return {
        "text": text,
        "nature": nature.value,
        "category": scn.category.value,
        "urgency": scn.urgency.value,
        "department": scn.department.value,
    }


def generate(n: int, seed: int = 0) -> list[Record]:
    """``n`` labelled complaints, reproducible from ``seed``."""
    return list(iter_generate(n, seed))


def iter_generate(n: int, seed: int = 0) -> Iterator[Record]:
    rng = random.Random(seed)
    regular = SCENARIOS + [s for s in COMPOSED if s.blame != QUESTION]
    weights = [s.weight for s in regular]
    consulting = CONSULTING + [s for s in COMPOSED if s.blame == QUESTION]
    consulting_w = [s.weight for s in consulting]
    for _ in range(n):
        lang = "zh" if rng.random() < 0.55 else "en"
        roll = rng.random()
        if roll < 0.16:
            scn = rng.choices(EMERGENCIES, [s.weight for s in EMERGENCIES])[0]
            if rng.random() < 0.12:
                yield _record(_compose(scn, lang, "emerg_blame", rng), N.DISSATISFACTION, scn)
            else:
                yield _record(_compose(scn, lang, "emerg", rng), N.HELP_SEEKING, scn)
        elif roll < 0.25:
            scn, nature = rng.choice(PAST_DANGER)
            kind = "question" if scn.blame == QUESTION else "always"
            yield _record(_compose(scn, lang, kind, rng), nature, scn)
        elif roll < 0.35:
            scn = rng.choices(consulting, consulting_w)[0]
            yield _record(_compose(scn, lang, "question", rng), N.CONSULTING, scn)
        else:
            scn = rng.choices(regular, weights)[0]
            if scn.blame == ALWAYS:
                kind = "blame" if rng.random() < 0.3 else "always"
                yield _record(_compose(scn, lang, kind, rng), N.DISSATISFACTION, scn)
            elif rng.random() < 0.6:
                yield _record(_compose(scn, lang, "help", rng), N.HELP_SEEKING, scn)
            else:
                yield _record(_compose(scn, lang, "blame", rng), N.DISSATISFACTION, scn)


def write_jsonl(records: list[Record], path: Path) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


# --- compositional scenarios: many objects x many ways of saying what is wrong ------------


def _cross(subjects: list[str], predicates: list[str], sep: str = "") -> list[str]:
    return [s + sep + p for s in subjects for p in predicates]


_EQ_ZH = [
    "楼道灯",
    "路灯",
    "单元门禁",
    "可视对讲",
    "车库道闸",
    "监控",
    "充电桩",
    "中央空调",
    "水泵",
    "消防栓",
    "应急灯",
    "大门",
    "门铃",
    "楼道声控灯",
    "车库的灯",
    "信报箱的锁",
    "健身器材",
    "儿童滑梯",
    "排风扇",
    "自动门",
    "快递柜",
    "饮水机",
    "游泳池的水泵",
    "单元门的闭门器",
]
_EQ_ZH_P = [
    "坏了",
    "不亮了",
    "不能用了",
    "失灵了",
    "出故障了",
    "按了没反应",
    "一直响",
    "老是卡住",
    "有异响",
    "时好时坏",
]
_EQ_EN = [
    "the hallway light",
    "the street lamp",
    "the door entry panel",
    "the intercom",
    "the car park barrier",
    "the CCTV",
    "the EV charger",
    "the air conditioning",
    "the water pump",
    "the fire hydrant",
    "the emergency light",
    "the main gate",
    "the doorbell",
    "the automatic door",
    "the parcel locker",
    "the gym equipment",
    "the playground slide",
    "the extractor fan",
    "the door closer on the entrance",
    "the mailbox lock",
]
_EQ_EN_P = [
    "is broken",
    "isn't working",
    "has stopped working",
    "is faulty",
    "keeps failing",
    "is stuck",
    "makes a strange noise",
    "doesn't respond",
    "is out of order",
    "works only sometimes",
]
_BQ_ZH = [
    "卧室墙面",
    "客厅天花板",
    "卫生间地面",
    "阳台",
    "外墙",
    "窗框",
    "楼梯",
    "厨房墙角",
    "地下室墙",
    "飘窗",
    "屋面",
    "入户门框",
]
_BQ_ZH_P = [
    "渗水",
    "返潮发霉",
    "开裂了",
    "有裂缝",
    "空鼓",
    "起皮脱落",
    "漏水",
    "有水渍",
    "墙皮鼓包",
    "瓷砖松动",
]
_BQ_EN = [
    "the bedroom wall",
    "the living room ceiling",
    "the bathroom floor",
    "the balcony",
    "the outside wall",
    "the window frame",
    "the staircase",
    "the kitchen corner",
    "the basement wall",
    "the bay window",
    "the roof",
]
_BQ_EN_P = [
    "has damp coming through",
    "is cracked",
    "has a crack that's growing",
    "is mouldy",
    "has water stains",
    "is letting water in when it rains",
    "has loose tiles",
    "has bubbling paint from damp",
    "has failed waterproofing",
    "sounds hollow",
]
_NB_ZH = [
    "楼上",
    "楼下",
    "隔壁",
    "对门",
    "邻居",
    "楼上那家",
    "隔壁那户",
    "1203的住户",
    "楼上的小孩",
    "对面那家人",
]
_NB_ZH_P = [
    "半夜还在跳",
    "天天吵到凌晨",
    "装修电钻声从早到晚",
    "养的狗一直叫",
    "在楼道里堆杂物",
    "把电动车停在楼道",
    "占用公共走廊",
    "在阳台违建",
    "往楼下扔垃圾",
    "唱歌声音特别大",
    "搞聚会闹到很晚",
    "的猫到处跑",
    "抽烟的味道飘过来",
    "乱停车挡了消防通道",
    "装修不按规定时间",
    "每天晚上在家拍球",
    "练琴练到半夜",
    "空调外机滴水到我家",
    "遛狗不拴绳",
]
_NB_EN = [
    "the people upstairs",
    "the flat below",
    "my neighbour",
    "the family next door",
    "the tenants in 1203",
    "the kids upstairs",
    "the people opposite",
]
_NB_EN_P = [
    "are stomping around after midnight",
    "are loud every single night",
    "have been drilling all day",
    "have a dog that never stops barking",
    "keep junk in the corridor",
    "park their scooter in the stairwell",
    "have built a shed on the shared terrace",
    "throw rubbish out of the window",
    "play music really loud",
    "have parties until late",
    "block the fire lane with their car",
    "renovate outside the permitted hours",
    "play the drums every evening",
    "bounce a ball on the floor at night",
    "let their dog off the lead",
    "have an air con unit dripping onto our balcony",
]
_SQ_CL_ZH = ["楼道", "电梯间", "大堂", "地下车库", "垃圾房", "楼梯", "小区路面", "单元门口"]
_SQ_CL_ZH_P = [
    "好久没人打扫了",
    "脏得不行也没人清理",
    "垃圾堆着没人收",
    "臭烘烘的保洁不管",
    "到处是狗屎没人清",
    "一直没人拖地",
]
_SQ_CL_EN = [
    "the hallway",
    "the lift lobby",
    "the entrance hall",
    "the car park",
    "the bin room",
    "the stairs",
    "the paths",
    "the courtyard",
]
_SQ_CL_EN_P = [
    "hasn't been cleaned for ages",
    "is filthy and nobody cleans it",
    "is full of uncollected rubbish",
    "stinks and the cleaners ignore it",
    "is covered in dog mess nobody clears",
    "is never mopped",
]
_SQ_LA_ZH = ["草坪", "绿化带", "花坛", "树", "灌木", "小区的绿植"]
_SQ_LA_ZH_P = ["好久没修剪了", "长得乱七八糟没人管", "都枯死了也没人换", "杂草丛生", "一直没人浇水"]
_SQ_LA_EN = [
    "the lawn",
    "the hedges",
    "the flower beds",
    "the trees",
    "the bushes",
    "the plants in the courtyard",
]
_SQ_LA_EN_P = [
    "haven't been trimmed in months",
    "are overgrown and neglected",
    "are dead and nobody replaces them",
    "are full of weeds",
    "are never watered",
]
_MG_FI_ZH = [
    "物业费",
    "停车费",
    "公摊水电费",
    "装修押金",
    "维修基金",
    "公共收益",
    "滞纳金",
    "电费",
    "垃圾清运费",
    "门禁卡工本费",
]
_MG_FI_ZH_P = [
    "算错了",
    "多收了",
    "乱收",
    "涨了也不公示",
    "一直不退",
    "账目不公开",
    "重复扣了两次",
    "收得不明不白",
]
_MG_FI_EN = [
    "the service charge",
    "the parking fee",
    "the shared utility charge",
    "my renovation deposit",
    "the maintenance fund",
    "the shared income",
    "the late fee",
    "the bin collection fee",
    "the access card fee",
]
_MG_FI_EN_P = [
    "is wrong",
    "was overcharged",
    "went up without notice",
    "has never been refunded",
    "is not accounted for",
    "was taken twice",
    "makes no sense",
]

COMPOSED: list[Scenario] = [
    _s(
        "c_equipment",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.NORMAL,
        _cross(_EQ_ZH, _EQ_ZH_P),
        _cross(_EQ_EN, _EQ_EN_P, " "),
        weight=3.0,
    ),
    _s(
        "c_building",
        C.BUILDING_QUALITY,
        D.ENGINEERING,
        U.NORMAL,
        _cross(_BQ_ZH, _BQ_ZH_P),
        _cross(_BQ_EN, _BQ_EN_P, " "),
        weight=2.0,
    ),
    _s(
        "c_neighbour",
        C.NEIGHBORHOOD,
        D.SECURITY,
        U.NORMAL,
        _cross(_NB_ZH, _NB_ZH_P),
        _cross(_NB_EN, _NB_EN_P, " "),
        weight=2.5,
    ),
    _s(
        "c_cleaning",
        C.SERVICE_QUALITY,
        D.CLEANING,
        U.NORMAL,
        _cross(_SQ_CL_ZH, _SQ_CL_ZH_P),
        _cross(_SQ_CL_EN, _SQ_CL_EN_P, " "),
        ALWAYS,
        1.5,
    ),
    _s(
        "c_landscape",
        C.SERVICE_QUALITY,
        D.LANDSCAPING,
        U.NORMAL,
        _cross(_SQ_LA_ZH, _SQ_LA_ZH_P),
        _cross(_SQ_LA_EN, _SQ_LA_EN_P, " "),
        ALWAYS,
        1.2,
    ),
    _s(
        "c_fees",
        C.MANAGEMENT,
        D.FINANCE,
        U.NORMAL,
        _cross(_MG_FI_ZH, _MG_FI_ZH_P),
        _cross(_MG_FI_EN, _MG_FI_EN_P, " "),
        ALWAYS,
        1.5,
    ),
    _s(
        "c_attitude",
        C.SERVICE_ATTITUDE,
        D.CUSTOMER_SERVICE,
        U.NORMAL,
        _cross(
            [
                "保安",
                "前台",
                "客服",
                "维修师傅",
                "保洁阿姨",
                "物业经理",
                "管家",
                "值班的人",
                "门岗",
            ],
            [
                "态度恶劣",
                "对我大吼大叫",
                "爱理不理",
                "说话很难听",
                "推卸责任说不归他管",
                "直接挂我电话",
                "跟我吵架",
                "一脸不耐烦",
                "骂人",
                "阴阳怪气",
            ],
        ),
        _cross(
            [
                "the guard",
                "the receptionist",
                "your customer service",
                "the repairman",
                "the cleaner",
                "the estate manager",
                "the concierge",
                "the staff on duty",
            ],
            [
                "was rude to me",
                "shouted at me",
                "ignored me",
                "was really condescending",
                "said it's not their job",
                "hung up on me",
                "argued with me",
                "rolled their eyes at me",
                "swore at me",
                "was dismissive",
            ],
            " ",
        ),
        ALWAYS,
        2.0,
    ),
    _s(
        "c_consult_rules",
        C.MANAGEMENT,
        D.CUSTOMER_SERVICE,
        U.LOW,
        _cross(
            [
                "装修",
                "养宠物",
                "搬家",
                "访客停车",
                "办门禁卡",
                "租车位",
                "办理入住",
                "更换物业公司",
                "张贴广告",
            ],
            ["有什么规定吗", "需要办什么手续吗", "要提前登记吗", "怎么办理", "可以吗"],
        ),
        _cross(
            [
                "what are the rules for",
                "what do I need to do for",
                "who do I talk to about",
                "is there a form for",
                "are we allowed to do",
                "where do I go for",
            ],
            [
                "renovation work",
                "keeping a pet",
                "moving in",
                "visitor parking",
                "getting an access card",
                "renting a parking space",
                "putting up a notice",
            ],
            " ",
        ),
        QUESTION,
        1.5,
    ),
    _s(
        "c_consult_fees",
        C.MANAGEMENT,
        D.FINANCE,
        U.LOW,
        _cross(
            ["物业费", "停车费", "水电费", "装修押金", "发票", "维修基金"],
            ["怎么交", "什么时候交", "可以线上交吗", "能开发票吗", "多少钱", "怎么退"],
        ),
        _cross(
            [
                "how do I pay",
                "when is the due date for",
                "can I pay online for",
                "can I get an invoice for",
                "how much is",
                "how do I get a refund of",
            ],
            [
                "the service charge",
                "the parking fee",
                "the water bill",
                "the renovation deposit",
                "the maintenance fund contribution",
            ],
            " ",
        ),
        QUESTION,
        1.5,
    ),
    _s(
        "c_suggest",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.LOW,
        _cross(
            ["建议", "希望物业", "能不能", "可不可以"],
            [
                "加装几个座椅",
                "多装几盏路灯",
                "装个快递柜",
                "加几个充电桩",
                "装个自行车棚",
                "在门口加个雨棚",
                "装个无障碍坡道",
                "多装几个监控",
            ],
        ),
        _cross(
            [
                "could you",
                "would it be possible to",
                "please consider whether you could",
                "it would be great if you could",
            ],
            [
                "add some benches",
                "put in more street lights",
                "install parcel lockers",
                "add EV chargers",
                "build a bike shelter",
                "add a canopy at the entrance",
                "install a wheelchair ramp",
                "add a water fountain",
            ],
            " ",
        ),
        QUESTION,
        1.5,
    ),
]


CONSULTING += [
    _s(
        "q_office",
        C.MANAGEMENT,
        D.CUSTOMER_SERVICE,
        U.LOW,
        [
            "物业办公室几点上班",
            "客服中心几点下班",
            "周末物业有人值班吗",
            "管家的电话是多少",
            "物业办公室在哪里",
            "节假日物业上班吗",
        ],
        [
            "what time does the management office open",
            "what time does the office close on Fridays",
            "is anyone at the desk on Sundays",
            "what is the phone number of the estate office",
            "where is the management office",
            "are you open on public holidays",
        ],
        QUESTION,
        1.5,
    ),
    _s(
        "s_greenery",
        C.SERVICE_QUALITY,
        D.LANDSCAPING,
        U.LOW,
        ["希望在空地上种些花草", "建议在儿童区种几棵遮阴的树", "能不能多种点绿植"],
        [
            "could you plant some shade trees by the playground",
            "suggestion: more greenery on the empty lot",
            "would you add some flower beds by the entrance",
        ],
        QUESTION,
        1.0,
    ),
]
SCENARIOS += [
    _s(
        "security_lapse",
        C.SERVICE_QUALITY,
        D.SECURITY,
        U.NORMAL,
        [
            "外卖和推销的随便进出小区,门岗形同虚设",
            "晚上巡逻的保安一个都看不到",
            "门岗从来不登记访客",
            "小区围墙有个缺口,谁都能钻进来",
        ],
        [
            "delivery riders and salesmen wander in and out, the gate guard does nothing",
            "there is never a guard on patrol at night",
            "the gatehouse never checks visitors",
            "there's a gap in the fence anyone can walk through",
        ],
        ALWAYS,
        1.0,
    ),
]

# Issue 9: what real messages showed the generator lacked. Standing hazards (a danger
# that could happen, not one happening now: never an emergency, normal or high), and
# neighbours who turn a home into something else (group rentals, shops, clinics).
SCENARIOS += [
    _s(
        "hazard_fire_equipment",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.NORMAL,
        [
            "{bld}的消防设施好几年没维护了,存在很大的安全隐患",
            "楼道的消防水带早就老化了,一直没人更换",
            "消防栓里根本没有水,这是重大隐患",
            "喷淋系统从交房起就没有检测过",
            "应急照明灯全坏了,出了事根本看不见",
        ],
        [
            "the fire equipment in {bld} has not been maintained for years, it is a serious hazard",
            "the hose reels on our floor are perished and nobody replaces them",
            "the hydrant in the courtyard has no water in it, a disaster waiting to happen",
            "the sprinklers have never been tested since we moved in",
            "half the emergency lights in the stairwell are dead",
        ],
        FRAME,
        1.0,
    ),
    _s(
        "hazard_inspection",
        C.EQUIPMENT,
        D.ENGINEERING,
        U.NORMAL,
        [
            "{bld}电梯的安全检验标志已经过期了",
            "电梯里贴的年检证是去年的,早过期了",
            "电梯维保记录好几个月没签字了",
        ],
        [
            "the safety certificate in the {bld} lift is out of date",
            "the lift's annual inspection sticker expired months ago",
            "nobody has signed the lift maintenance log since spring",
        ],
        FRAME,
        1.0,
    ),
    _s(
        "hazard_visible",
        C.BUILDING_QUALITY,
        D.ENGINEERING,
        U.HIGH,
        [
            "{bld}外墙的瓷砖有好几块松动了,怕哪天掉下来",
            "楼顶的女儿墙开裂了,下面就是人行道",
            "阳台栏杆锈得很厉害,孩子靠上去很危险",
        ],
        [
            "several tiles on the outside wall of {bld} are loose, one day they will fall",
            "the parapet on the roof is cracked right above the footpath",
            "the balcony railings are badly rusted and unsafe for children",
        ],
        FRAME,
        0.8,
    ),
    _s(
        "group_rental",
        C.NEIGHBORHOOD,
        D.SECURITY,
        U.NORMAL,
        [
            "{floor}有一户隔成了好多小间在群租",
            "{unit}住了十来个租客,进进出出吵得很",
            "有人把房子改成了短租公寓,天天拖着行李箱的陌生人",
            "楼下那套房子开成了棋牌室,半夜还在吵",
            "对门把住宅改成了培训班,楼道里全是学生",
        ],
        [
            "the flat on {floor} has been split into tiny rooms and let to a crowd of tenants",
            "{unit} is rented out room by room, there are strangers coming and going all night",
            "a flat in {bld} is being run as a short-let hotel",
            "someone turned the flat downstairs into a mahjong parlour",
            "a home on our landing has become a tutoring centre, the stairs are full of kids",
        ],
        FRAME,
        1.2,
    ),
]
