"""Deliberately broken extractor plugins, for fault-injection tests (as OCRmyPDF does)."""
