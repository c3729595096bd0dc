"""A model module that ``torch.package`` interns: its source is copied into the package and runs when
the package is imported by ``torch.package.PackageImporter`` (which is why the package is kind "code")."""

import torch  # noqa: TID251 - fixture generator, never part of the scanner


class PackagedNet(torch.nn.Module):
    def __init__(self):  # type: ignore[no-untyped-def]
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return torch.sigmoid(self.fc(x))
