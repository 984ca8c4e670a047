"""Categories of demands (应受理 / 不受理) and the referrals a decline names.

A 民呼必应 service station sorts every demand into matters it accepts and matters it does not,
seven of each. A case's category is a short code (`env`, `outside`), stored on the case and
worded in each reader's language; a declined case also names a *referral*: where the resident
should turn instead (the property company, the 12345 hotline, the police station, a court…),
with its contact text.

The lists are the deployment's: `ECHOWALL_CATEGORIES` and `ECHOWALL_REFERRALS` replace the
defaults below (see `bot.config`). The defaults are gettext msgids, translated like every
other text; a configured category carries its names in each language itself.

A keyword suggestion pre-selects the likely category of a new case: the category with the
most of its keywords in the case's text (the first in the list on a tie); none when no keyword
matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from handlers.texts import N_, Translator

# A code is what a button carries: a short ASCII word (`handlers.callbacks`, `w`).
CODE = re.compile(r"[a-z]{1,8}")


@dataclass(frozen=True)
class Referral:
    """Where a declined demand should go instead, and how to reach it."""

    code: str
    label: str  # gettext msgid (a default), or the English name of a configured one
    contact: str = ""  # gettext msgid, or English text; "" for none
    names: Mapping[str, str] = field(default_factory=dict)  # per language, configured
    contacts: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()  # further words staff may type for it (12345, 派出所)

    def name(self, t: Translator) -> str:
        return self.names.get(t.language) or t.gettext(self.label)

    def contact_text(self, t: Translator) -> str:
        if t.language in self.contacts:
            return self.contacts[t.language]
        return t.gettext(self.contact) if self.contact else ""


@dataclass(frozen=True)
class Category:
    """One kind of demand: accepted (the community handles it) or not."""

    code: str
    accepted: bool
    label: str  # gettext msgid (a default), or the English name of a configured one
    names: Mapping[str, str] = field(default_factory=dict)
    keywords: tuple[str, ...] = ()
    referral: str | None = None  # a not-accepted category's usual referral (a code)

    def name(self, t: Translator) -> str:
        return self.names.get(t.language) or t.gettext(self.label)


class CategoryError(ValueError):
    """The configured lists cannot be used; the message says why."""


@dataclass(frozen=True)
class Categories:
    """The deployment's categories (accepted ones first) and referrals."""

    items: tuple[Category, ...]
    referrals: tuple[Referral, ...]

    def __post_init__(self) -> None:
        codes = [c.code for c in self.items]
        for code in codes + [r.code for r in self.referrals]:
            if not CODE.fullmatch(code):
                raise CategoryError(f"code {code!r}: 1 to 8 lower-case letters a-z")
        if len(set(codes)) != len(codes):
            raise CategoryError("two categories share a code")
        referral_codes = [r.code for r in self.referrals]
        if len(set(referral_codes)) != len(referral_codes):
            raise CategoryError("two referrals share a code")
        if not any(c.accepted for c in self.items) or all(c.accepted for c in self.items):
            raise CategoryError("at least one accepted and one not-accepted category are needed")
        for category in self.items:
            if category.referral is not None and category.referral not in referral_codes:
                raise CategoryError(
                    f"category {category.code!r} refers to an unknown referral "
                    f"{category.referral!r}"
                )
        # Accepted ones first, each kind in the order given: the order of buttons and reports.
        ordered = tuple(c for c in self.items if c.accepted) + tuple(
            c for c in self.items if not c.accepted
        )
        object.__setattr__(self, "items", ordered)

    @property
    def accepted(self) -> tuple[Category, ...]:
        return tuple(c for c in self.items if c.accepted)

    @property
    def not_accepted(self) -> tuple[Category, ...]:
        return tuple(c for c in self.items if not c.accepted)

    def get(self, code: str | None) -> Category | None:
        return next((c for c in self.items if c.code == code), None) if code else None

    def referral(self, code: str | None) -> Referral | None:
        return next((r for r in self.referrals if r.code == code), None) if code else None

    def name(self, code: str, t: Translator) -> str:
        """A stored category's name; the code itself for one no longer configured."""
        category = self.get(code)
        return category.name(t) if category is not None else code

    def referral_name(self, code: str, t: Translator) -> str:
        referral = self.referral(code)
        return referral.name(t) if referral is not None else code

    def find(self, word: str, languages: Iterable[Translator]) -> Category | None:
        """The category a person typed: its code, or its name in any language."""
        wanted = _norm(word)
        if not wanted:
            return None
        languages = list(languages)
        for category in self.items:
            names = {category.code, *category.names.values()}
            names |= {t.gettext(category.label) for t in languages} | {category.label}
            if wanted in {_norm(n) for n in names}:
                return category
        return None

    def find_referral(self, word: str, languages: Iterable[Translator]) -> Referral | None:
        """The referral a person typed: its code, a name in any language, or an alias."""
        wanted = _norm(word)
        if not wanted:
            return None
        languages = list(languages)
        for referral in self.referrals:
            names = {referral.code, *referral.names.values(), *referral.aliases}
            names |= {t.gettext(referral.label) for t in languages} | {referral.label}
            if wanted in {_norm(n) for n in names}:
                return referral
        return None

    def suggest(self, text: str, *, accepted: bool = True) -> Category | None:
        """The likely category of a demand (or of a decline's reason) by its keywords."""
        folded = text.casefold()
        best: Category | None = None
        best_hits = 0
        for category in self.items:
            if category.accepted is not accepted:
                continue
            hits = sum(1 for word in category.keywords if word.casefold() in folded)
            if hits > best_hits:
                best, best_hits = category, hits
        return best


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _norm(word: str) -> str:
    return "".join(word.split()).casefold()


# --- the defaults --------------------------------------------------------------------------
#
# Seven matters the station accepts and seven it does not, as the stations in the seeds sort
# them (分类梳理“民呼必应”不受理事项、应受理事项各7大类), and the places a declined demand is
# referred to. Keywords are Chinese words residents use, and a few English ones.

DEFAULT_REFERRALS = (
    Referral(
        "property",
        N_("the property management company"),
        N_("the property service centre of your estate (see the notice board in your building)"),
        aliases=("物业",),
    ),
    Referral(
        "hotline",
        N_("the 12345 government service hotline"),
        N_("call 12345, or leave a message on the 12345 app or website"),
        aliases=("12345", "热线"),
    ),
    Referral(
        "legal",
        N_("the 12348 public legal service hotline"),
        N_("call 12348 for free legal advice"),
        aliases=("12348", "法律援助", "法律咨询"),
    ),
    Referral(
        "police",
        N_("the local police station"),
        N_("go to the local police station; in an emergency call 110"),
        aliases=("110", "派出所", "公安"),
    ),
    Referral(
        "court",
        N_("the court or an arbitration commission"),
        N_("bring the case to the people's court, or apply for arbitration"),
        aliases=("法院", "仲裁"),
    ),
    Referral(
        "mediate",
        N_("the people's mediation committee"),
        N_("the community's people's mediation committee helps both sides settle it"),
        aliases=("调解", "人民调解"),
    ),
    Referral(
        "desk",
        N_("the community service station"),
        N_("come to the community service station in person, on working days"),
        aliases=("服务站", "社区", "窗口"),
    ),
)

DEFAULT_CATEGORIES = (
    Category(
        "env",
        True,
        N_("Environment and sanitation"),
        keywords=_words(
            "垃圾 卫生 清扫 保洁 异味 臭 污水 堆物 杂物 小广告 蚊 苍蝇 老鼠 绿化 "
            "树 落叶 积水 粪 garbage trash litter smell "
            "rubbish"
        ),
    ),
    Category(
        "facility",
        True,
        N_("Public facilities"),
        keywords=_words(
            "灯 电梯 门禁 井盖 道路 路面 扶手 健身 充电 车棚 停车 座椅 栏杆 台阶 "
            "信箱 监控 light lamp lift elevator door"
        ),
    ),
    Category(
        "property",
        True,
        N_("Property management"),
        keywords=_words(
            "物业 物业费 保安 维修基金 漏水 渗水 水管 暖气 供暖 水压 停水 停电 "
            "管道 下水 屋顶 墙皮 leak heating pipe property"
        ),
    ),
    Category(
        "dispute",
        True,
        N_("Neighbour disputes"),
        keywords=_words("邻居 楼上 楼下 噪音 吵 宠物 狗 猫 占用 纠纷 noise neighbour neighbor dog"),
    ),
    Category(
        "safety",
        True,
        N_("Safety and fire"),
        keywords=_words(
            "消防 火 电动车 飞线 安全 燃气 煤气 隐患 高空抛物 通道 灭火器 fire gas e-bike danger"
        ),
    ),
    Category(
        "welfare",
        True,
        N_("Social assistance"),
        keywords=_words(
            "低保 救助 困难 残疾 独居 老人 养老 就业 医保 社保 补贴 助餐 elderly allowance disabled"
        ),
    ),
    Category(
        "service",
        True,
        N_("Other public services"),
        keywords=_words("证明 办事 户籍 疫苗 咨询 开具 certificate vaccine"),
    ),
    Category(
        "court",
        False,
        N_("In court or arbitration"),
        keywords=_words("起诉 诉讼 法院 仲裁 判决 court lawsuit"),
        referral="court",
    ),
    Category(
        "contract",
        False,
        N_("Private contractual dispute"),
        keywords=_words("合同 租房 房东 租客 装修公司 欠款 借款 contract rent"),
        referral="mediate",
    ),
    Category(
        "illegal",
        False,
        N_("Request against the law"),
        keywords=_words("违法 违规 违建 私搭 illegal"),
        referral="legal",
    ),
    Category(
        "outside",
        False,
        N_("Outside this community"),
        keywords=_words("不属于 辖区外 隔壁小区 外小区 非本社区 outside"),
        referral="hotline",
    ),
    Category(
        "repeat",
        False,
        N_("Repeat of a demand already answered"),
        keywords=_words("重复 已答复 已经答复 同一问题 repeat duplicate"),
        referral="desk",
    ),
    Category(
        "agency",
        False,
        N_("A matter for another authority"),
        keywords=_words("职能部门 城管 市场监管 税务 交警 authority"),
        referral="hotline",
    ),
    Category(
        "anon",
        False,
        N_("Anonymous, without facts"),
        keywords=_words("匿名 无具体 没有具体 无事实 anonymous"),
        referral="desk",
    ),
)

DEFAULTS = Categories(DEFAULT_CATEGORIES, DEFAULT_REFERRALS)
