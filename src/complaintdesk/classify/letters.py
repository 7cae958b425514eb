"""Letter-style generated examples: petitions as residents write them on a board.

The real labelled messages are petitions: a title line naming the issue, a greeting,
who the writer is, the issue told at length with blame, other issues in passing, a
closing formula. The generated corpus (:mod:`complaintdesk.classify.generate`) writes
short messages, and has few ``management`` scenarios (fees, permits). This module
writes letters, labelled by the issue of the title (rule 17 of docs/labelling.md),
with the department of rules 6 to 16: money is ``finance``, rules and choices
(changing the property company, the owners' committee, parking, common areas taken
over, a developer's delays) ``customer_service``, and a fee used as a lever
(water or power cut over arrears) ``finance`` (rule 13).

Chinese only: the real letters are. Written for this module from the labelling
guide, not copied from any message. Deterministic: ``random.Random(seed)`` only. A
separate generator, so the generated corpus and its held-out set (seed + 2) do not
change.
"""

from __future__ import annotations

import random

Record = dict[str, str]

ESTATE = [
    "锦绣花园",
    "阳光家园",
    "翠湖苑",
    "金域华府",
    "滨江一号",
    "书香名苑",
    "东湖新村",
    "丽景湾",
    "万家丽小区",
    "紫荆城",
    "星河湾",
    "御景园",
    "龙湖春江",
    "幸福里小区",
    "梧桐苑",
    "国际公馆",
]
CITY = ["A市", "A1区", "A2区", "A3区", "A4区", "A5区", "A6区", "A7区", ""]
COMPANY = ["物业公司", "物业", "物业服务公司", "小区物业", "物业管理处"]
BLD = ["3栋", "8栋", "12栋2单元", "5号楼", "B座", "17栋", "2期6栋", "1栋1单元"]

Topic = tuple[str, str, str, list[str], list[str]]
"""category, department, urgency, titles, facts: the issue of a letter. In the texts
{E} is the estate, {C} the property company, {B} a building, {X} a district."""

TOPICS: list[Topic] = [
    # --- management / finance: money (rules 6, 13, 14, 16) -------------------------------
    (
        "management",
        "finance",
        "normal",
        [
            "{E}物业乱收费",
            "关于{E}物业费上涨的问题",
            "{E}物业私自提高物业费",
            "投诉{E}物业违规收费",
            "{E}物业费收费标准不合理",
        ],
        [
            "{C}未经业主大会同意，擅自将物业费从每平米1.2元涨到1.8元。",
            "物业费一年比一年高，服务却越来越差，收费没有任何公示。",
            "{C}按建筑面积收取物业费，连没有交付的公摊面积也要收钱。",
            "物业服务合同约定的收费标准早已到期，{C}仍然按高价收取。",
            "我们多次要求{C}公开收支明细，至今没有公示过一分钱的去向。",
            "物价局核定的标准是1.5元，{C}却收2.3元，多收的钱去了哪里。",
        ],
    ),
    (
        "management",
        "finance",
        "normal",
        [
            "{E}公共收益去向不明",
            "关于{E}公共收益的问题",
            "{E}小区广告收入被物业侵占",
            "请求公开{E}公共收益账目",
        ],
        [
            "小区电梯广告、道闸广告和场地出租的收入，{C}从来没有公示过。",
            "地面停车位的停车费属于全体业主的公共收益，却全部被{C}拿走了。",
            "{C}把小区架空层出租给商户收取租金，这笔公共收益业主一分没见到。",
            "按规定公共收益应当归全体业主所有，{C}多年来拒不公开账目。",
            "业主多次要求查看公共收益的收支情况，{C}一直推脱。",
        ],
    ),
    (
        "management",
        "finance",
        "normal",
        [
            "{E}维修基金被违规使用",
            "关于{E}维修资金的问题",
            "{E}物业挪用维修基金",
            "{E}维修基金使用不透明",
        ],
        [
            "{C}没有经过业主表决，就动用了我们的专项维修资金。",
            "电梯维修花了几十万维修基金，业主既不知情也没有签字。",
            "维修基金的申请和使用没有任何公示，业主查不到账。",
            "{C}伪造业主签名申请使用维修基金，我们要求彻查。",
            "交房时每户都交了维修基金，现在小区设施坏了却说没钱修。",
        ],
    ),
    (
        "management",
        "finance",
        "normal",
        [
            "{E}停车费收费不合理",
            "{E}临时停车收费问题",
            "关于{E}车位管理费的投诉",
            "{E}物业乱收停车费",
        ],
        [
            "{C}对业主车辆收取每月300元的停车管理费，没有任何依据。",
            "小区道路上停车也要收费，收费标准从来没有经过业主同意。",
            "业主自己买的车位还要每月交车位管理费，而且标准一涨再涨。",
            "外来车辆随便进，业主的车却要交临时停车费。",
            "停车费发票都不开，收的钱不知道进了谁的口袋。",
        ],
    ),
    (
        "management",
        "finance",
        "normal",
        ["{E}装修押金不退", "关于{E}物业拒退押金的问题", "{E}物业扣押装修保证金"],
        [
            "装修完工已经一年多了，{C}仍以各种理由不退还装修押金。",
            "交了3000元装修保证金，验收合格后{C}一直拖着不退。",
            "{C}巧立名目从押金里扣钱，扣款没有任何凭据。",
            "门禁卡押金、装修押金收了一大堆，退的时候却推三阻四。",
        ],
    ),
    (
        "management",
        "finance",
        "normal",
        [
            "{E}交房强制预交物业费",
            "{E}未验收先收物业费",
            "关于{E}交房收费的问题",
            "{E}开发商交房乱收费",
        ],
        [
            "交房时开发商和物业要求必须一次性预交一年物业费，否则不给钥匙。",
            "房子还没有验收合格，{C}就开始收取物业费。",
            "交房的时候被强制收取了一笔所谓的综合服务费，没有任何依据。",
            "房子没有交付使用，空置期间的物业费也要全额缴纳，这合理吗。",
        ],
    ),
    (
        "management",
        "finance",
        "normal",
        ["{E}物业以欠费为由停水停电", "{E}物业不交费就锁电梯", "{E}物业停水逼缴物业费"],
        [
            "{C}以业主欠物业费为由，直接停了我家的水电。",
            "{C}说没交物业费就不给门禁卡，车也不让进小区。",
            "为了催缴物业费，{C}把整栋楼的电梯都锁了。",
            "水电费本应由供水供电部门收取，{C}却加价代收，不交就断水。",
        ],
    ),
    (
        "management",
        "finance",
        "normal",
        ["{E}水电费加价收取", "{E}二次供水费收费问题", "{E}公摊电费不明"],
        [
            "{C}代收水电费，每度电比国家标准多收了三毛钱。",
            "每月的公摊水电费数额很大，{C}从不公开计算依据。",
            "二次供水费是什么费用，谁批准收的，{C}解释不清。",
            "电梯电费、路灯电费都摊到业主头上，金额一年比一年高。",
        ],
    ),
    # --- management / customer_service: rules and choices (rules 7, 13, 14, 16) ----------
    (
        "management",
        "customer_service",
        "normal",
        [
            "{E}业主要求更换物业公司",
            "关于{E}更换物业的问题",
            "{E}物业合同到期拒不退出",
            "{E}选聘新物业受阻",
        ],
        [
            "小区业主大会已经投票决定解聘现在的{C}，但{C}拒绝撤场。",
            "前期物业合同早就到期了，{C}一直赖着不走，也不办理交接。",
            "大部分业主都同意更换物业，社区却迟迟不给组织业主大会。",
            "新物业公司已经选好了，原{C}不交出资料和设备用房。",
            "{C}服务太差，业主想换物业，请问应该走什么程序，社区一直不答复。",
        ],
    ),
    (
        "management",
        "customer_service",
        "normal",
        [
            "{E}业委会成立受阻",
            "关于{E}业主委员会选举的问题",
            "{E}业委会换届不公",
            "请求指导{E}成立业主委员会",
        ],
        [
            "我们小区入住十年了，一直没有成立业主委员会，业主申请了多次都被搁置。",
            "业委会选举过程中，物业和社区干预投票，选票不公开唱票。",
            "业委会任期早已届满，却迟迟不组织换届选举。",
            "业委会和{C}私下签订物业服务合同，没有经过业主大会表决。",
            "筹备组成员由社区指定，业主推选的代表被排除在外。",
        ],
    ),
    (
        "management",
        "customer_service",
        "normal",
        ["{E}车位分配不公", "{E}车位只售不租", "关于{E}停车管理的问题", "{E}车位被外来车辆占用"],
        [
            "开发商的车位只卖不租，业主买不起车位只能停在路边。",
            "{C}把车位优先租给外来人员，本小区业主反而排不上号。",
            "小区停车管理混乱，{C}随意发放停车卡，车位根本不够。",
            "地下车库的车位分配没有任何公开规则，全凭关系。",
        ],
    ),
    (
        "management",
        "customer_service",
        "normal",
        [
            "{E}公共区域被占用",
            "{E}物业擅自改变公共绿地用途",
            "关于{E}架空层被占用的问题",
            "{E}开发商侵占小区公共设施",
        ],
        [
            "小区的会所本来是业主的公共配套，现在被开发商改成了售楼处。",
            "{C}擅自把小区绿地改成停车位，没有征求业主意见。",
            "架空层被社区占用做办公室，业主的活动场地没了。",
            "规划中的幼儿园和业主活动中心，开发商一直没有移交。",
        ],
    ),
    (
        "management",
        "customer_service",
        "normal",
        ["{E}物业管理混乱", "{E}物业不作为", "投诉{E}物业公司", "{E}物业服务严重不到位"],
        [
            "{C}对业主的投诉从来不处理，打电话没人接，去物业办公室找不到人。",
            "{C}没有公示物业服务合同和服务标准，业主不知道该享受什么服务。",
            "{C}人员频繁更换，经理一年换了三个，很多事情没人负责。",
            "{C}随意制定小区管理规定，不经业主同意就张贴执行。",
        ],
    ),
    (
        "management",
        "customer_service",
        "normal",
        ["{E}开发商逾期交房", "{E}迟迟办不了房产证", "关于{E}不动产权证办理的问题"],
        [
            "购房合同约定去年年底交房，开发商至今没有交付。",
            "入住已经五年了，开发商一直不给办理房产证。",
            "开发商以各种理由拖延办证，业主的孩子上学都受影响。",
            "交房时承诺的配套设施至今没有兑现，开发商避而不见。",
        ],
    ),
    (
        "management",
        "customer_service",
        "normal",
        ["{E}物业限制业主装修", "{E}装修审批刁难业主", "{E}物业不让业主进小区"],
        [
            "{C}规定装修必须用他们指定的施工队，否则不给办理装修手续。",
            "装修申请交上去一个月了，{C}还没有审批。",
            "{C}以各种理由不让装修材料进小区，逼业主签不合理的协议。",
            "{C}更换门禁系统后，业主必须登记全部个人信息才能进出小区。",
        ],
    ),
    # --- neighborhood / security (rules 10, 15) -------------------------------------------
    (
        "neighborhood",
        "security",
        "normal",
        ["{E}业主违章搭建", "{E}顶楼私搭乱建", "关于{E}违建的举报", "{E}一楼业主侵占公共绿地"],
        [
            "{B}顶楼业主在楼顶私自搭建了阳光房，占用了公共区域。",
            "一楼业主把门前的公共绿地圈起来做了自家花园，还加了围墙。",
            "有业主在露台上违章加盖了一层，{C}明知道却不制止。",
            "违建已经举报了半年，城管和{C}互相推诿，至今没有拆除。",
        ],
    ),
    (
        "neighborhood",
        "security",
        "normal",
        ["{E}噪音扰民", "{E}广场舞噪音严重", "{E}商铺噪音扰民", "{E}夜间施工噪音"],
        [
            "楼下的商铺每天营业到深夜，音响声音很大，居民根本无法休息。",
            "小区广场每天晚上跳广场舞，音响开得震天响，一直到十点多。",
            "隔壁工地晚上十一点还在施工，噪音让人无法入睡。",
            "{B}有住户每天半夜弹琴唱歌，邻居多次沟通无果。",
        ],
    ),
    (
        "neighborhood",
        "security",
        "normal",
        ["{E}群租房问题", "{E}住宅被改成日租房", "{E}业主私开麻将馆", "{E}住宅楼开办培训机构"],
        [
            "{B}有一套房子被隔成了七八个小间出租，住了二十多个人。",
            "好几套住宅被改成了日租房，每天陌生人进进出出，安全没有保障。",
            "楼下住户把房子改成了麻将馆，每天吵到凌晨。",
            "住宅楼里开了一家培训机构，每天几十个孩子在楼道里跑来跑去。",
        ],
    ),
    (
        "neighborhood",
        "security",
        "normal",
        ["{E}楼道堆放杂物", "{E}消防通道被占用", "{E}电动车楼道充电", "{E}高空抛物"],
        [
            "楼道里堆满了住户的杂物和旧家具，消防通道被堵死了。",
            "消防车道长期被私家车占用，{C}从来不管。",
            "很多住户把电动车推进楼道充电，还有人从楼上拉电线下来。",
            "{B}经常有人从楼上往下扔垃圾，楼下的车都被砸过。",
        ],
    ),
    (
        "neighborhood",
        "security",
        "normal",
        ["{E}养狗扰民", "{E}业主楼顶种菜", "{E}邻居占用公共区域"],
        [
            "小区里很多人遛狗不拴绳，狗粪随处可见，老人小孩都被吓过。",
            "楼顶被几户业主种满了菜，还在上面施肥，臭气熏天。",
            "邻居把楼道公共区域封起来据为己有，其他住户无法通行。",
            "楼上邻居养了好几条大狗，整夜叫个不停。",
        ],
    ),
    # --- equipment / engineering (rule 9) --------------------------------------------------
    (
        "equipment",
        "engineering",
        "normal",
        ["{E}电梯频繁故障", "{E}电梯安全问题", "关于{E}电梯维修的问题"],
        [
            "{B}的电梯三天两头出故障，上个月还发生了停在半空的情况。",
            "电梯年久失修，运行时抖动严重，异响不断。",
            "小区电梯坏了报修后，{C}说要等配件，一等就是半个月。",
            "电梯维保合同到期后没有续签，电梯长期无人维护。",
        ],
    ),
    (
        "equipment",
        "engineering",
        "high",
        ["{E}长期停水", "{E}停电问题", "{E}电梯停运"],
        [
            "小区已经连续停水三天了，{C}没有任何通知，也没有送水。",
            "{B}从昨天开始一直没有电，冰箱里的东西都坏了。",
            "{B}唯一的电梯停运一周了，老人上下楼非常困难。",
            "二次供水设备坏了，高层住户每天晚上都没有水。",
        ],
    ),
    (
        "equipment",
        "engineering",
        "normal",
        ["{E}水压太低", "{E}路灯不亮", "{E}门禁系统损坏", "{E}消防设施损坏"],
        [
            "高层住户水压太低，热水器都打不着火。",
            "小区路灯坏了大半年，晚上出门一片漆黑。",
            "单元门禁坏了很久，外人随便进出，{C}一直不修。",
            "楼道里的消防栓没有水，灭火器早就过期了，{C}一直不更换。",
            "小区的排水管道堵塞，下雨天路面积水严重。",
        ],
    ),
    # --- building_quality / engineering (rules 8, 16) ------------------------------------
    (
        "building_quality",
        "engineering",
        "normal",
        ["{E}房屋质量问题", "{E}外墙渗水", "{E}房屋开裂", "关于{E}开发商房屋质量的投诉"],
        [
            "房子交付不到两年，墙面就出现了多处裂缝，而且越来越宽。",
            "外墙渗水严重，一下雨卧室的墙就是湿的，墙皮大面积脱落。",
            "楼顶防水没有做好，顶楼住户家里天花板一直在渗水。",
            "地下室墙面渗水，开发商说在保修期内却一直不来维修。",
            "卫生间防水层有质量问题，水渗到了楼下邻居家。",
        ],
    ),
    (
        "building_quality",
        "engineering",
        "normal",
        ["{E}设计缺陷", "{E}交房质量不合格", "{E}楼板隔音极差"],
        [
            "交房时发现户型与合同不符，层高也不够。",
            "楼板太薄，楼上走路的声音听得一清二楚，明显不符合标准。",
            "窗户密封不好，一刮风就漏风漏雨。",
            "下水管道设计有问题，一楼住户家经常返水。",
        ],
    ),
    # --- service_quality (rule 11) ----------------------------------------------------------
    (
        "service_quality",
        "cleaning",
        "normal",
        ["{E}卫生脏乱差", "{E}垃圾清运不及时", "{E}垃圾站臭气熏天"],
        [
            "小区垃圾好几天没人清运，堆得像小山一样，苍蝇满天飞。",
            "{C}保洁人员太少，楼道一个月都不打扫一次。",
            "垃圾中转站就建在居民楼下，夏天臭味熏得人不敢开窗。",
            "化粪池满了也没人清理，污水流得到处都是。",
        ],
    ),
    (
        "service_quality",
        "security",
        "normal",
        ["{E}小区安保形同虚设", "{E}频繁失窃", "{E}车库电动车被盗"],
        [
            "小区门岗经常没人值守，外来人员随意进出。",
            "最近小区连续发生几起入室盗窃，{C}的监控却是坏的。",
            "地下车库的电动车接连被盗，保安说不归他们管。",
            "晚上巡逻的保安根本看不到，出了事找不到人。",
        ],
    ),
    # --- service_attitude (rule 12) ---------------------------------------------------------
    (
        "service_attitude",
        "customer_service",
        "normal",
        ["{E}物业人员态度恶劣", "{E}保安殴打业主", "{E}物业工作人员辱骂业主"],
        [
            "我去物业反映问题，工作人员不但不处理，还出言辱骂。",
            "保安因为一点小事就对业主推搡动手，事后{C}拒不道歉。",
            "物业经理对业主恶语相向，还威胁要给我们好看。",
            "{C}客服接到投诉后态度蛮横，直接挂断电话。",
        ],
    ),
]

GREETING = ["尊敬的领导：", "尊敬的领导您好！", "各位领导好，", "您好！", "领导您好：", ""]
WHO = [
    "我是{X}{E}的业主。",
    "本人是{X}{E}{B}的业主，",
    "我们是{X}{E}的全体业主，",
    "我是{X}{E}的一名住户，",
    "{X}{E}小区业主反映：",
    "我们{E}是{Y}年交房的小区，",
]
BLAME = [
    "业主多次向{C}反映，{C}一直推诿，至今没有解决。",
    "我们向社区、街道都反映过，但是没有任何结果。",
    "{C}对此不闻不问，业主的合法权益得不到保障。",
    "拨打了12345热线，也没有人来处理。",
    "这个问题已经存在好几年了，一直没有人管。",
    "{C}的这种行为严重损害了业主的利益。",
]
PASSING = ["另外，", "此外，", "还有，", "同时，", "除此之外，", ""]
CLOSING = [
    "恳请相关部门尽快调查处理！",
    "希望领导重视，还业主一个公道。",
    "请政府部门督促解决，谢谢！",
    "盼复！",
    "恳请领导帮忙解决，谢谢！",
    "望有关部门给予答复。",
    "请相关部门依法查处。",
]
HELP_REQUEST = [
    "请问这种情况应该找哪个部门解决？希望能帮帮我们。",
    "希望有关部门能帮忙协调解决，谢谢。",
    "恳请领导帮助我们解决这个困难。",
]


def _fill(s: str, rng: random.Random, e: str, c: str) -> str:
    return (
        s.replace("{E}", e)
        .replace("{C}", c)
        .replace("{B}", rng.choice(BLD))
        .replace("{X}", rng.choice(CITY))
        .replace("{Y}", str(rng.randint(2008, 2018)))
    )


def letters(n: int, seed: int) -> list[Record]:
    """``n`` labelled letters, reproducible from ``seed``."""
    rng = random.Random(seed)
    out: list[Record] = []
    weights = [1.5 if t[0] == "management" else 1.0 for t in TOPICS]
    for _ in range(n):
        i = rng.choices(range(len(TOPICS)), weights)[0]
        cat, dep, urg, titles, facts = TOPICS[i]
        e, c = rng.choice(ESTATE), rng.choice(COMPANY)
        title = _fill(rng.choice(titles), rng, e, c)
        help_ = rng.random() < 0.1
        parts = [rng.choice(GREETING), _fill(rng.choice(WHO), rng, e, c)]
        main = rng.sample(facts, min(len(facts), rng.randint(3, 5)))
        parts += [_fill(f, rng, e, c) for f in main]
        if not help_:
            parts += [_fill(b, rng, e, c) for b in rng.sample(BLAME, rng.randint(1, 2))]
        for _ in range(rng.choice((0, 1, 1, 2))):
            others = [t for t in TOPICS if t[0] != cat or t[1] != dep]
            o = rng.choice(others)
            parts.append(rng.choice(PASSING) + _fill(rng.choice(o[4]), rng, e, c))
        parts.append(rng.choice(HELP_REQUEST) if help_ else rng.choice(CLOSING))
        body = "".join(parts)
        out.append(
            {
                "text": title + "\n" + body,
                "nature": "help_seeking" if help_ else "dissatisfaction",
                "category": cat,
                "urgency": urg,
                "department": dep,
            }
        )
    return out
