"""Media, the data path's lowest floor: decoding, frame sampling, face cropping, one pipeline."""
