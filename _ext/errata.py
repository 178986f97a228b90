"""The ``erratum`` admonition and the ``errata-list`` that gathers every erratum of the book.

In a chapter (MyST)::

    ```{erratum} The gradient of BCE through the sigmoid
    The widely copied claim, the check that refutes it, and the right result.
    ```

In the appendix, ``{errata-list}`` becomes a list of links to every erratum, in the
order of the table of contents.
"""

from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


class errata_list(nodes.General, nodes.Element):
    """Placeholder replaced by the list of errata once every document is read."""


class Erratum(SphinxDirective):
    required_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec = {"class": directives.class_option}

    def run(self):
        title = self.arguments[0]
        target_id = f"erratum-{self.env.new_serialno('erratum')}"
        target = nodes.target("", "", ids=[target_id])
        admonition = nodes.admonition(classes=["erratum", "warning"] + self.options.get("class", []))
        textnodes, _ = self.state.inline_text(f"Erratum: {title}", self.lineno)
        admonition += nodes.title(f"Erratum: {title}", "", *textnodes)
        self.state.nested_parse(self.content, self.content_offset, admonition)
        errata = getattr(self.env, "lossbook_errata", {})
        errata.setdefault(self.env.docname, []).append((title, target_id))
        self.env.lossbook_errata = errata
        return [target, admonition]


class ErrataList(SphinxDirective):
    def run(self):
        return [errata_list()]


def _purge(app, env, docname):
    getattr(env, "lossbook_errata", {}).pop(docname, None)


def _merge(app, env, docnames, other):
    errata = getattr(env, "lossbook_errata", {})
    for docname in docnames:
        errata[docname] = other.lossbook_errata.get(docname, [])
    env.lossbook_errata = errata


def _fill_lists(app, doctree, fromdocname):
    errata = getattr(app.env, "lossbook_errata", {})
    ordered = [d for d in app.env.found_docs if d in errata]
    order = {name: i for i, name in enumerate(_toc_order(app))}
    ordered.sort(key=lambda d: order.get(d, len(order)))
    for placeholder in doctree.findall(errata_list):
        items = nodes.bullet_list()
        for docname in ordered:
            page_title = app.env.titles[docname].astext()
            for title, target_id in errata[docname]:
                uri = app.builder.get_relative_uri(fromdocname, docname) + "#" + target_id
                paragraph = nodes.paragraph()
                paragraph += nodes.reference("", title, refuri=uri, internal=True)
                paragraph += nodes.Text(f" — in “{page_title}”")
                items += nodes.list_item("", paragraph)
        if not ordered:
            items = nodes.paragraph(text="No errata yet.")
        placeholder.replace_self(items)


def _toc_order(app):
    """Documents in reading order (depth-first through the toctrees from the root)."""
    seen, order = set(), []

    def visit(docname):
        if docname in seen:
            return
        seen.add(docname)
        order.append(docname)
        for child in app.env.toctree_includes.get(docname, []):
            visit(child)

    visit(app.config.root_doc)
    return order


def setup(app: Sphinx) -> dict:
    app.add_node(errata_list)
    app.add_directive("erratum", Erratum)
    app.add_directive("errata-list", ErrataList)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("doctree-resolved", _fill_lists)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
