"""CT question bank from realised truth (docs/vqa.md).

:mod:`.truth` reads a case's realised truth into typed records, :mod:`.lungrads` holds the
Lung-RADS v2022 rules, :mod:`.templates` the declarative catalogue, :mod:`.bank` turns cases
into items with canonical uids, shuffled options and splits, :mod:`.scoring` scores replies.
"""
