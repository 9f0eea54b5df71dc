"""Puts a marked section (<!-- NAME:start --> … <!-- NAME:end -->) into a
Markdown file, replacing the previous one or appending it.

usage: python3 put_section.py NAME TARGET.md SECTION.md
"""
import re
import sys

name, target, section_file = sys.argv[1], sys.argv[2], sys.argv[3]
doc, section = open(target).read(), open(section_file).read().strip()
pattern = re.compile(r"<!-- %s:start -->.*?<!-- %s:end -->" % (name, name), re.S)
doc = pattern.sub(lambda _: section, doc) if pattern.search(doc) else doc.rstrip() + "\n\n" + section + "\n"
open(target, "w").write(doc)
