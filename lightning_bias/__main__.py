from lightning_bias.commands import main

main()
