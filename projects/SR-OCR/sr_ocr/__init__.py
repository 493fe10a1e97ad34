from .ocr_head import OCRHead, object_representations
