from lightning_bias.cli import main

main()
