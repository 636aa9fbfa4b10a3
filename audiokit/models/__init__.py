"""Model zoo: plain ``nn.Module`` s, built from configs by their full ``_target_`` paths."""
