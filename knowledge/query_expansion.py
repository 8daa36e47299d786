"""Shop vocabulary for BM25: colloquial question words map to the words the catalogue uses.

Only the lexical side is expanded; embeddings already see "多重" and "重量" as close.
"""
from __future__ import annotations

import re

# (pattern in the normalized question, tokens added to the BM25 query)
EXPANSIONS: list[tuple[re.Pattern[str], list[str]]] = [(re.compile(p), toks) for p, toks in [
    (r"多少钱|价格|价钱|几块|多钱|贵不贵|便宜|how much|price|cost", ["价格", "price"]),
    (r"多重|沉不沉|重不重|分量|how heavy|weigh", ["重量", "weight"]),
    (r"多大|尺寸|大小|折起来|how big", ["尺寸"]),
    (r"寄|发货|几天到|多久到|送到|快递|物流", ["发货", "快递"]),
    (r"什么时候发|多久发|几天.{0,3}(寄出|发出|发货)|寄出|发出|when .{0,12}ship", ["下单", "发货", "小时"]),
    (r"gps|轨迹|路线|跑步.{0,4}准", ["gps", "轨迹", "运动"]),
    (r"[黑白灰粉蓝绿红紫银金]色|颜色|配色|什么色|colou?rs?\b", ["颜色", "colors"]),
    (r"暖光|冷光|白光|黄光|暖色|冷色|色温|灯光颜色|warm light|cool light", ["色温"]),
    (r"切换|怎么开|怎么关|按键|操作|switch|toggle", ["切换", "操作"]),
    (r"游泳|下水|洗澡|泡水|淋雨|swim|shower", ["防水", "water"]),
    (r"退货|退款|退吗|能退|可以退|不喜欢|return|refund", ["退货", "无理由", "return"]),
    (r"换新|坏了|质量问题|故障|broken|defect", ["质量问题", "换新", "保修"]),
    (r"港澳台|香港|澳门|台湾|海外|国外|abroad|overseas", ["港澳台", "海外"]),
    (r"路线|轨迹|在哪|定位|where", ["定位", "轨迹"]),
    (r"苹果|iphone|ios", ["ios", "苹果"]),
    (r"安卓|android", ["android", "安卓"]),
    (r"运费|邮费|包邮|shipping", ["包邮", "运费", "shipping"]),
    (r"充满|充电多久|多久充|recharge", ["充电", "充满"]),
    (r"能用多久|用多久|续航|几天一充|battery", ["续航", "battery"]),
    # English questions in a Chinese shop: the catalogue's Chinese words (English shops have their own).
    (r"power ?bank|portable charger|充电宝|移动电源", ["充电宝"]),
    (r"kids'? watch|children'?s watch|儿童手表|电话手表", ["儿童"]),
    (r"\bwatch|手表", ["手表"]),
    (r"earbuds?|headphones?|\bbuds\b|耳机", ["耳机"]),
    (r"\blamp|台灯", ["台灯"]),
    (r"coupons?|优惠券", ["优惠券"]),
    (r"warranty|保修", ["保修"]),
    (r"invoice|receipt|发票", ["发票"]),
    (r"noise cancel|降噪", ["降噪"]),
    (r"plane|flight|airline|飞机|登机", ["飞机", "登机"]),
]]


# Cities viewers name for the provinces a shop's shipping rules name (乌鲁木齐 is in 新疆).
REGION_OF_CITY: list[tuple[re.Pattern[str], list[str]]] = [(re.compile(p), toks) for p, toks in [
    (r"乌鲁木齐|喀什|伊犁|克拉玛依|库尔勒|阿克苏|哈密", ["新疆"]),
    (r"拉萨|日喀则|林芝", ["西藏"]),
    (r"西宁|格尔木", ["青海"]),
    (r"兰州|敦煌|天水|嘉峪关", ["甘肃"]),
    (r"银川|石嘴山", ["宁夏"]),
    (r"呼和浩特|包头|鄂尔多斯|赤峰|呼伦贝尔", ["内蒙古"]),
]]


def region_terms(question_normalized: str) -> list[str]:
    """Province names for the cities a question mentions."""
    out: list[str] = []
    for pattern, tokens in REGION_OF_CITY:
        if pattern.search(question_normalized):
            out.extend(tokens)
    return out


def expand(question_normalized: str) -> list[str]:
    """Extra BM25 tokens for a normalized (lower-case, NFKC) question."""
    extra: list[str] = []
    for pattern, tokens in EXPANSIONS:
        if pattern.search(question_normalized):
            extra.extend(tokens)
    return extra + region_terms(question_normalized)
