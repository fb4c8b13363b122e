"""The embedded engine: moto's Step Functions interpreter running the real ASL, with the template's Lambda
handlers called in-process, its state folder, redrive, and Ctrl-C safety."""
