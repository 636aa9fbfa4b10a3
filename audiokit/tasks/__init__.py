"""One LightningModule per task family; each owns its loss, metrics and optimizer wiring."""
