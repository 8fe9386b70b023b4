import click


@click.group()
def cli() -> None:
    """Pixie."""


def main() -> None:
    cli()
