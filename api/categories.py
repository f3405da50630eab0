"""The categories of issue that linli knows by name, each with the urgency (紧急程度) it implies.

A case's category is free text (``POST /v1/cases`` takes any short label), so this list does not limit what
can be filed; it names the common ones, so that a client that must offer a choice — an Open311 client
reading ``services.json`` — can offer these. A filing that picks one here gets its urgency; anyone filing
through ``/v1`` still says the urgency themselves.

The urgencies follow DESIGN.md: ``emergency`` is danger to life or property, ``urgent`` is water, power, gas
and heating, ``complex`` needs several parties or works. Codes are the labels already in use (tests,
benchmarks, the README's examples): ``drainage``, ``lighting``, ``parking``, ``greening``, ``noise``.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflows.model import Urgency


@dataclass(frozen=True)
class Category:
    code: str
    name: str  # Chinese first, as residents say it, then English
    about: str
    group: str
    keywords: tuple[str, ...]
    urgency: Urgency = Urgency.NORMAL


CATEGORIES: tuple[Category, ...] = (
    Category("safety", "安全隐患 · Danger to people or property",
             "外墙脱落、燃气泄漏、火灾隐患、电线裸露等危及生命财产的情况 · Falling facade, gas leak, fire hazard, "
             "exposed wiring: anything that endangers life or property now",
             "safety", ("危险", "隐患", "燃气泄漏", "火灾", "hazard", "danger", "gas leak", "fire"), Urgency.EMERGENCY),
    Category("water", "供水 · Water supply",
             "停水、水管爆裂、漏水、水质问题 · No water, a burst pipe, a leak, water quality",
             "utilities", ("停水", "漏水", "水管", "water", "leak", "burst pipe"), Urgency.URGENT),
    Category("power", "供电 · Electricity",
             "停电、楼道或公共区域断电 · A power cut in a building or the compound's common areas",
             "utilities", ("停电", "断电", "电路", "power cut", "outage", "electricity"), Urgency.URGENT),
    Category("gas", "燃气 · Gas supply",
             "停气、燃气表或管道故障（闻到燃气味请选“安全隐患”）· No gas, a faulty meter or pipe (if you smell gas, "
             "choose Danger instead)",
             "utilities", ("燃气", "天然气", "停气", "gas"), Urgency.URGENT),
    Category("heating", "供暖 · Heating",
             "暖气不热、停暖、管道漏水 · Radiators cold, heating off, a leaking heating pipe",
             "utilities", ("暖气", "供暖", "不热", "heating", "radiator"), Urgency.URGENT),
    Category("elevator", "电梯 · Lift",
             "电梯故障、停运 · A lift out of order (someone trapped: call 96333 or 110 first)",
             "facilities", ("电梯", "困人", "停运", "lift", "elevator"), Urgency.URGENT),
    Category("drainage", "排水 · Drains and sewers",
             "下水道堵塞、雨后积水、化粪池外溢 · A blocked drain, standing water after rain, an overflowing "
             "septic tank",
             "environment", ("下水道", "堵塞", "积水", "排水", "drain", "sewer", "flooding"), Urgency.NORMAL),
    Category("lighting", "照明 · Lighting",
             "路灯、楼道灯不亮 · Street or stairwell lights out",
             "facilities", ("路灯", "楼道灯", "不亮", "street light", "lamp", "lighting")),
    Category("sanitation", "环境卫生 · Rubbish and cleanliness",
             "垃圾清运不及时、垃圾分类、卫生死角 · Rubbish not collected, sorting, neglected corners",
             "environment", ("垃圾", "卫生", "清运", "rubbish", "garbage", "litter")),
    Category("greening", "绿化 · Trees and green space",
             "树木修剪、绿地被占、枯树 · Trees to prune, green space taken over, dead trees",
             "environment", ("绿化", "树木", "草坪", "trees", "green space", "pruning")),
    Category("parking", "停车 · Parking",
             "乱停车、车位纠纷、消防通道被占 · Parking in the wrong place, disputes over spaces, a blocked fire lane",
             "community", ("停车", "车位", "消防通道", "parking", "car", "fire lane")),
    Category("noise", "噪音 · Noise",
             "装修、商铺、设备噪音扰民 · Noise from renovation, shops or machinery",
             "community", ("噪音", "扰民", "装修", "noise", "renovation noise")),
    Category("facilities", "公共设施 · Shared facilities",
             "健身器材、门禁、围墙、道路损坏 · Exercise equipment, door entry, fences, paths in disrepair",
             "facilities", ("设施", "门禁", "道路", "围墙", "facilities", "door entry", "paving")),
    Category("property", "物业服务 · Property management",
             "物业服务、收费、维修基金 · The property company's service, fees, the repair fund",
             "community", ("物业", "收费", "维修基金", "property company", "fees")),
    Category("renovation", "改造工程 · Renovation works",
             "老旧小区改造、加装电梯等需多方协商的工程 · Old-compound renovation, adding a lift: works several "
             "parties must agree on",
             "facilities", ("改造", "加装电梯", "工程", "renovation", "works", "adding a lift"), Urgency.COMPLEX),
    Category("dispute", "邻里纠纷 · Neighbour dispute",
             "漏水到楼下、占用公共空间等邻里矛盾 · A leak into the flat below, shared space taken over: "
             "disagreements between neighbours",
             "community", ("纠纷", "矛盾", "邻里", "dispute", "neighbours")),
    Category("other", "其他 · Something else",
             "以上都不是 · None of the above",
             "community", ("其他", "other")),
)  # fmt: skip

BY_CODE: dict[str, Category] = {c.code: c for c in CATEGORIES}


def category(code: str) -> Category | None:
    return BY_CODE.get(code)
