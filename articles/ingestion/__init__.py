"""Turning files into clean, segmented articles.

- ``sources``: expand paths (files, directories, .zip, .gz) into named byte streams, with
  size limits and text decoding.
- ``readers``: parse each format (txt, jsonl, csv, html) into ``ArticleRecord`` objects.
- ``cleaning``: strip site chrome from plain text scraped from news pages.
- ``html``: extract the article from a saved HTML page.
- ``segmenting``: split a body into paragraph or sentence spans with exact offsets.

``articles.services.articles_import`` drives them inside one transaction.
"""
