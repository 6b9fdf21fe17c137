"""Which gendered words a subject-only swap (``AttributeSwapper.swap_subject_with_count``) leaves alone.

In a text about one person (a bio), relatives are third parties: "She lives with her husband" becomes
"He lives with his husband", the husband keeping his gender. Plural nouns ("treats men and women")
and words of the other gender are left alone by the swapper itself.
"""

from __future__ import annotations

__all__ = ["KINSHIP_NOUNS"]

KINSHIP_NOUNS = frozenset(
    """
    father mother son daughter brother sister husband wife uncle aunt nephew niece boyfriend girlfriend
    grandfather grandmother grandson granddaughter grandpa grandma granddad granny stepfather stepmother
    stepson stepdaughter stepbrother stepsister godfather godmother godson goddaughter dad mom daddy mommy
    mum mummy papa mama fiance fiancee groom bride bridegroom
    """.split()
)
